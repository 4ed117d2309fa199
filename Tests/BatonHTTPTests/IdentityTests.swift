import BatonApp
import BatonCore
@testable import BatonHTTP
import BatonTestSupport
import Foundation
import InMemoryLogging
import Logging
import NIOCore
import Testing

/// Who may speak as whom: a token says which users its holder may post as, and without
/// tokens only this machine is believed about who is speaking.
@Suite struct IdentityTests {
    static let frontEnd = "front-end-token-0123456789"
    static let bob = "bob-token-0123456789ab"
    static let tokens: [APIToken] = [APIToken(frontEnd), APIToken(bob, users: ["bob"], name: "bob")]

    private static func logger(_ logs: InMemoryLogHandler) -> Logger {
        var logger = Logger(label: "baton.test") { _ in logs }
        logger.logLevel = .debug
        return logger
    }

    @Test func aTokenSpeaksOnlyForItsUsersAndARefusedMessageIsNotStored() async throws {
        let logs = InMemoryLogHandler()
        try await InProcessBaton { $0.apiTokens = Self.tokens }.run(logger: Self.logger(logs)) { app, client in
            let impersonation = try await client.post(session: "s", user: "alice", text: "hello", token: Self.bob)
            #expect(impersonation.status == 403)
            #expect(impersonation.errorMessage?.contains("alice") == true, "\(impersonation.text)")
            let restart = try await client.post(session: "s", user: "alice", text: "/restart", token: Self.bob)
            #expect(restart.status == 403, "bob's token cannot /restart as the admin alice")
            #expect(try await app.store.messageCount() == 0)
            #expect(await app.gateway.status().state == .ready)

            #expect(try await client.post(session: "s", user: "bob", text: "hello", token: Self.bob).status == 202)
            #expect(try await client.post(session: "s", user: "alice", text: "hello", token: Self.frontEnd).status == 202)
            #expect(try await client.post(session: "s", user: "bob", text: "hello", token: nil).status == 401)

            let metrics = try await client.metrics(token: Self.frontEnd)
            #expect(metrics[#"baton_impersonations_rejected_total{token="bob"}"#] == 2)
            #expect(metrics[#"baton_impersonations_rejected_total{token="token-1"}"#] == 0)
            #expect(metrics[#"baton_api_requests_total{token="bob"}"#] == 3)
            #expect(metrics[#"baton_api_requests_total{token="token-1"}"#] == 2, "a POST and this GET /metrics")
            #expect(metrics[#"baton_api_refused_total{reason="missing_token"}"#] == 1)
            #expect(metrics[#"baton_api_refused_total{reason="invalid_token"}"#] == 0)
            #expect(try await app.store.messageCount() == 2)
        }
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.count == 2, "\(logs.entries)")
        for warning in warnings {
            #expect(warning.metadata["baton.token"] == "bob" && warning.metadata["baton.user"] == "alice", "\(warning)")
        }
        #expect(!logs.entries.contains { "\($0)".contains(Self.bob) || "\($0)".contains(Self.frontEnd) }, "a secret was logged")
    }

    @Test("The Bearer scheme's name in any case, as RFC 9110 says; another scheme is no token")
    func theSchemeNameIsCaseInsensitive() async throws {
        try await InProcessBaton { $0.apiTokens = Self.tokens }.run { _, client in
            for scheme in ["Bearer", "bearer", "BEARER"] {
                let response = try await client.request("GET", "/v1/status", headers: [("Authorization", "\(scheme) \(Self.frontEnd)")])
                #expect(response.status == 200, "\(scheme): \(response.text)")
            }
            let basic = try await client.request("GET", "/v1/status", headers: [("Authorization", "Basic \(Self.frontEnd)")])
            #expect(basic.status == 401)
        }
    }

    @Test func aTokenThatSpeaksForAnAdminMayRestartAndTheLogNamesIt() async throws {
        let logs = InMemoryLogHandler()
        let alice = APIToken("alice-token-0123456789", users: ["alice"], name: "alice-laptop")
        let exit = try await InProcessBaton { $0.apiTokens = Self.tokens + [alice] }.run(logger: Self.logger(logs)) { _, client in
            let restart = try await client.post(session: "ops", user: "alice", text: "/restart", token: alice.secret)
            #expect(restart.status == 202 && restart.json["status"] as? String == "restarting", "\(restart.text)")
        }
        #expect(exit == .restart)
        let command = logs.entries.first { "\($0.message)" == "Admin command" }
        #expect(command?.metadata["baton.token"] == "alice-laptop" && command?.metadata["baton.user"] == "alice", "\(logs.entries)")
    }

    @Test func withoutTokensARequestThroughAProxyIsRefusedAndNothingStored() async throws {
        try await InProcessBaton().run { app, client in
            let proxied = try await client.request(
                "POST", "/v1/messages", body: Array(#"{"session":"s","user":"bob","text":"hi"}"#.utf8),
                headers: [("X-Forwarded-For", "203.0.113.9")])
            #expect(proxied.status == 403)
            #expect(proxied.errorMessage?.contains("X-Forwarded-For") == true, "\(proxied.text)")
            #expect(proxied.errorMessage?.contains("allow_unauthenticated") == true, "\(proxied.text)")
            #expect(try await app.store.messageCount() == 0)
            #expect(try await client.request("GET", "/v1/status", headers: [("Forwarded", "for=203.0.113.9")]).status == 403)
            #expect(try await client.request("GET", "/healthz", headers: [("X-Real-IP", "203.0.113.9")]).status == 200)

            #expect(try await client.post(session: "s", user: "bob", text: "from this machine", token: nil).status == 202)
            let metrics = try await client.metrics()
            #expect(metrics[#"baton_api_refused_total{reason="not_local"}"#] == 2)
            #expect(metrics[#"baton_api_requests_total{token="unauthenticated"}"#] == 2, "the POST and this GET /metrics")
            #expect(metrics[#"baton_impersonations_rejected_total{token="unauthenticated"}"#] == 0)
        }
    }

    @Test("Without tokens, a request a browser sent for another site's page is refused: a form or no-cors fetch posting as an admin, a DNS name pointed at loopback reading the API")
    func withoutTokensAnotherSitesPageIsRefused() async throws {
        try await InProcessBaton().run { app, client in
            let restart = Array(#"{"session":"ops","user":"alice","text":"/restart now"}"#.utf8)
            let message = Array(#"{"session":"s","user":"bob","text":"hi"}"#.utf8)
            let fromForm = try await client.request(
                "POST", "/v1/messages", body: restart, headers: [("Origin", "http://evil.example"), ("Content-Type", "text/plain")])
            #expect(fromForm.status == 403)
            #expect(fromForm.errorMessage?.contains("Origin: http://evil.example") == true, "\(fromForm.text)")
            let crossSite = try await client.request("POST", "/v1/messages", body: message, headers: [("Sec-Fetch-Site", "cross-site")])
            #expect(crossSite.status == 403)
            let sandboxed = try await client.request("POST", "/v1/messages", body: message, headers: [("Origin", "null")])
            #expect(sandboxed.status == 403)
            let rebound = try await client.request("GET", "/v1/status", headers: [("Host", "evil.example:\(client.port)")])
            #expect(rebound.status == 403)
            #expect(rebound.errorMessage?.contains("evil.example") == true, "\(rebound.text)")
            #expect(await app.gateway.status().state == .ready)
            #expect(try await app.store.messageCount() == 0)

            // This machine's own clients, and Baton's page, same-origin.
            let ownPage = try await client.request(
                "POST", "/v1/messages", body: message,
                headers: [("Origin", "http://127.0.0.1:\(client.port)"), ("Sec-Fetch-Site", "same-origin")])
            #expect(ownPage.status == 202, "\(ownPage.text)")
            let byName = try await client.request(
                "POST", "/v1/messages", body: message, headers: [("Host", "localhost:\(client.port)"), ("Origin", "http://LOCALHOST:\(client.port)")])
            #expect(byName.status == 202, "\(byName.text)")
            #expect(try await client.request("GET", "/v1/status", headers: [("Host", "[::1]:\(client.port)")]).status == 200)
            let machine = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
            #expect(try await client.request("GET", "/v1/status", headers: [("Host", "\(machine):\(client.port)")]).status == 200, "\(machine)")
            #expect(try await client.request("GET", "/", headers: [("Host", "evil.example")]).status == 200, "the page itself asks nothing")
            #expect(try await app.store.messageCount() == 2)
            let metrics = try await client.metrics()
            #expect(metrics[#"baton_api_refused_total{reason="foreign_page"}"#] == 4)
            #expect(metrics[#"baton_api_refused_total{reason="not_local"}"#] == 0)
        }
        try await InProcessBaton { $0.allowUnauthenticated = true }.run { app, client in
            let restart = Array(#"{"session":"ops","user":"alice","text":"/restart now"}"#.utf8)
            let fromForm = try await client.request("POST", "/v1/messages", body: restart, headers: [("Origin", "http://evil.example")])
            #expect(fromForm.status == 403, "served, but nothing vouches for the admin it names: \(fromForm.text)")
            #expect(await app.gateway.status().state == .ready)
        }
    }

    @Test func allowedWithoutTokensAdminCommandsStillComeOnlyFromThisMachine() async throws {
        try await InProcessBaton { $0.allowUnauthenticated = true }.run { app, client in
            let proxy = [("X-Forwarded-For", "203.0.113.9")]
            let message = Array(#"{"session":"s","user":"bob","text":"hi"}"#.utf8)
            #expect(try await client.request("POST", "/v1/messages", body: message, headers: proxy).status == 202)
            let restart = Array(#"{"session":"ops","user":"alice","text":"/restart now"}"#.utf8)
            let refused = try await client.request("POST", "/v1/messages", body: restart, headers: proxy)
            #expect(refused.status == 403)
            #expect(refused.errorMessage?.contains("this machine") == true, "\(refused.text)")
            #expect(await app.gateway.status().state == .ready)
            let metrics = try await client.metrics()
            #expect(metrics[#"baton_impersonations_rejected_total{token="unauthenticated"}"#] == 1)
        }
    }

    @Test func theUserEndpointSaysAdminOnlyWhereTheCallersRestartWouldBeTaken() async throws {
        let alice = APIToken("alice-token-0123456789", users: ["alice"], name: "alice-laptop")
        try await InProcessBaton { $0.apiTokens = Self.tokens + [alice] }.run { _, client in
            var admin: [String: Bool] = [:]
            for (user, token, name) in [("alice", Self.bob, "bob"), ("alice", alice.secret, "alice"), ("alice", Self.frontEnd, "front"), ("bob", Self.bob, "bob")] {
                admin["\(user) by \(name)"] = try await client.get("/v1/users/\(user)", token: token).json["admin"] as? Bool
            }
            #expect(admin == ["alice by bob": false, "alice by alice": true, "alice by front": true, "bob by bob": false])
        }
        try await InProcessBaton { $0.allowUnauthenticated = true }.run { _, client in
            let proxied = try await client.request("GET", "/v1/users/alice", headers: [("X-Forwarded-For", "203.0.113.9")])
            #expect(proxied.status == 200 && proxied.json["admin"] as? Bool == false, "\(proxied.text)")
            let local = try await client.get("/v1/users/alice", token: nil)
            #expect(local.json["admin"] as? Bool == true, "\(local.text)")
        }
    }

    @Test(.enabled(if: Self.nonLoopbackAddress != nil, "needs an address other than loopback"))
    func anotherMachinesPeerIsNotBelievedAboutAdminsWithoutTokens() async throws {
        let host = try #require(Self.nonLoopbackAddress)
        let baton = InProcessBaton {
            $0.listen = ListenAddress(host: "0.0.0.0", port: 0)
            $0.allowUnauthenticated = true
        }
        try await baton.run { app, _ in
            // Connecting to this machine's own outside address: the peer is that address.
            let port = try #require(app.httpSocket.port)
            try await withOutsideClient(host: host, port: port) { client in
                #expect(try await client.post(session: "s", user: "bob", text: "hi", token: nil).status == 202)
                let refused = try await client.post(session: "ops", user: "alice", text: "/restart", token: nil)
                #expect(refused.status == 403, "\(refused.text)")
            }
            #expect(await app.gateway.status().state == .ready)
        }
    }

    @Test func withoutTokensAnOutsideAddressIsNotServedUnlessAllowed() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-identity-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = Configuration(listen: ListenAddress(host: "0.0.0.0", port: 0), stateDirectory: directory)
        await #expect {
            try await buildApplication(configuration: configuration, environment: [:], logger: InProcessBaton.logger)
        } throws: { error in
            (error as? ConfigurationError).map { $0.key == "api_tokens" && $0.problem.contains("allow_unauthenticated: true") } ?? false
        }
    }

    @Test func theCallerOfARequestDependsOnItsTokenOrWhereItCameFrom() throws {
        let outside = try SocketAddress(ipAddress: "192.0.2.7", port: 40000)
        let loopback = try SocketAddress(ipAddress: "::1", port: 40000)
        let open = TokenAuthMiddleware<BatonRequestContext>(tokens: [])
        #expect(try open.identify([:], peer: loopback) == .unauthenticated(fromThisMachine: true))
        #expect(throws: TokenAuthMiddleware<BatonRequestContext>.Refusal.self) { try open.identify([:], peer: outside) }
        let allowed = TokenAuthMiddleware<BatonRequestContext>(tokens: [], allowUnauthenticated: true)
        #expect(try allowed.identify([:], peer: outside) == .unauthenticated(fromThisMachine: false))

        let withTokens = TokenAuthMiddleware<BatonRequestContext>(tokens: Self.tokens)
        let caller = try withTokens.identify([.authorization: "Bearer \(Self.bob)"], peer: outside)
        #expect(caller.name == "bob" && caller.users == ["bob"])
        #expect(try withTokens.identify([.authorization: "Bearer \(Self.frontEnd)"], peer: outside).name == "token-1")

        let toAlice = IncomingMessage(id: nil, session: "s", user: "alice", text: "/restart")
        #expect(caller.refusal(of: toAlice)?.contains("may not speak for user alice") == true)
        #expect(Caller.unauthenticated(fromThisMachine: false).refusal(of: toAlice) != nil)
        #expect(Caller.unauthenticated(fromThisMachine: true).refusal(of: toAlice) == nil)
        #expect(Caller.unauthenticated(fromThisMachine: false).refusal(of: IncomingMessage(id: nil, session: "s", user: "alice", text: "hi")) == nil)
    }

    @Test func onlyALoopbackPeerIsThisMachine() throws {
        for loopback in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            #expect(try SocketAddress(ipAddress: loopback, port: 1).isLoopback, "\(loopback)")
        }
        for outside in ["192.0.2.7", "128.0.0.1", "10.127.0.1", "::2", "::ffff:192.0.2.7", "2001:db8::1", "fe80::1", "::"] {
            #expect(try !SocketAddress(ipAddress: outside, port: 1).isLoopback, "\(outside)")
        }
        #expect(try !SocketAddress(unixDomainSocketPath: "/run/baton.sock").isLoopback)
    }

    /// An IPv4 address of this machine other than loopback, if it has one.
    static let nonLoopbackAddress: String? = {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                let host = ListenAddress(socketAddress: address, length: socklen_t(MemoryLayout<sockaddr_in>.size))?.host
            else { continue }
            if !ListenAddress.isLoopback(ipAddress: host) { return host }
        }
        return nil
    }()
}

/// Runs `body` with a client for `host:port` (not loopback), shut down afterwards.
private func withOutsideClient(host: String, port: Int, _ body: (BatonHTTPClient) async throws -> Void) async throws {
    let client = BatonHTTPClient(port: port, host: host)
    do {
        try await body(client)
        try await client.shutdown()
    } catch {
        try? await client.shutdown()
        throw error
    }
}

extension BatonHTTPClient {
    /// `GET /metrics` with a bearer token, parsed; throws unless it answered 200.
    func metrics(token: String) async throws -> PrometheusText {
        let response = try await get("/metrics", token: token)
        try #require(response.status == 200, "GET /metrics: \(response.status) \(response.text)")
        return PrometheusText(response.text)
    }
}
