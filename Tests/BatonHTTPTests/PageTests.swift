import AsyncHTTPClient
import BatonCore
@testable import BatonHTTP
import BatonTestSupport
import Foundation
import Testing

/// The web page at `/` and the endpoints made for it. (The page itself runs in a real
/// browser in `BatonProcessTests/BrowserTests`.)
@Suite struct PageTests {
    static let token = "page-test-token-0123456789"
    static let pageDirectory = (BatonBinary.repositoryRoot as NSString).appendingPathComponent("Sources/BatonHTTP/Page")

    @Test func thePageIsServedWithoutATokenWithAStrictContentSecurityPolicy() async throws {
        try await InProcessBaton { $0.apiTokens = [APIToken(Self.token)] }.run { _, client in
            let page = try await client.request("GET", "/")
            #expect(page.status == 200)
            #expect(page.header("Content-Type") == "text/html; charset=utf-8")
            let policy = try #require(page.header("Content-Security-Policy"))
            let directives = Set(policy.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(directives.isSuperset(of: ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "object-src 'none'"]))
            #expect(!policy.contains("unsafe"), "no inline script or style: \(policy)")
            #expect(page.header("X-Content-Type-Options") == "nosniff")
            #expect(page.header("X-Frame-Options") == "DENY")
            #expect(page.header("Referrer-Policy") == "no-referrer")
            #expect(page.header("Cross-Origin-Opener-Policy") == "same-origin")
            #expect(page.header("Cache-Control") == "no-cache")
            #expect(page.instance != nil)

            let html = page.text
            #expect(html.contains(#"<script type="module" src="app.js"></script>"#))
            // Nothing the policy would block: no inline script, handler or style.
            #expect(html.ranges(of: "<script").count == 1)
            #expect(!html.contains(" style=") && !html.contains("<style") && !html.contains(" onclick="))

            // The API itself still needs the token.
            #expect(try await client.request("GET", "/v1/status").status == 401)
            #expect(try await client.request("GET", "/v1/status/events").status == 401)
            #expect(try await client.request("GET", "/v1/users/alice").status == 401)
        }
    }

    @Test func everyFileOfThePageIsServedAsItsSourceSays() async throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.pageDirectory).filter { !$0.hasPrefix(".") }.sorted()
        #expect(names.contains("index.html") && names.contains("app.js") && names.contains("style.css"))
        try await InProcessBaton { $0.apiTokens = [APIToken(Self.token)] }.run { _, client in
            for name in names {
                let source = try Data(contentsOf: URL(fileURLWithPath: (Self.pageDirectory as NSString).appendingPathComponent(name)))
                let path = name == "index.html" ? "/" : "/\(name)"
                let served = try await client.request("GET", path)
                #expect(served.status == 200, "\(path)")
                // A difference means PageFile+Embedded.swift is stale: run scripts/embed-page.py.
                #expect(served.body == Array(source), "\(path) differs from Sources/BatonHTTP/Page/\(name): run scripts/embed-page.py")
                #expect(served.header("X-Content-Type-Options") == "nosniff", "\(path)")
                #expect(served.header("Content-Security-Policy") != nil, "\(path)")
                if name != "favicon.svg" {
                    // Everything from this origin: no address of another one.
                    #expect(!served.text.contains("http://") && !served.text.contains("https://"), "\(path) names another origin")
                }
            }
            #expect(try await client.request("GET", "/app.js").header("Content-Type") == "text/javascript; charset=utf-8")
            #expect(try await client.request("GET", "/style.css").header("Content-Type") == "text/css; charset=utf-8")
            #expect(try await client.request("GET", "/favicon.svg").header("Content-Type") == "image/svg+xml")
            #expect(try await client.request("GET", "/nothing.js").status == 401)
        }
    }

    @Test func aFileTheBrowserHasIsNotSentAgain() async throws {
        try await InProcessBaton().run { _, client in
            let first = try await client.request("GET", "/app.js")
            let etag = try #require(first.header("ETag"))
            let again = try await client.request("GET", "/app.js", headers: [("If-None-Match", etag)])
            #expect(again.status == 304)
            #expect(again.body.isEmpty)
            #expect(again.header("ETag") == etag)
            let changed = try await client.request("GET", "/app.js", headers: [("If-None-Match", "\"0000000000000000\"")])
            #expect(changed.status == 200 && changed.body == first.body)
            #expect(try await client.request("GET", "/style.css").header("ETag") != etag)
        }
    }

    @Test func theUserEndpointSaysWhoIsAnAdmin() async throws {
        try await InProcessBaton().run { _, client in
            let alice = try await client.request("GET", "/v1/users/alice")
            #expect(alice.status == 200)
            #expect(alice.json["user"] as? String == "alice" && alice.json["admin"] as? Bool == true)
            let bob = try await client.request("GET", "/v1/users/bob")
            #expect(bob.json["user"] as? String == "bob" && bob.json["admin"] as? Bool == false)
        }
    }

    @Test func theStatusStreamSendsTheStatusThenEveryChangeAndEndsWhenTheProcessStops() async throws {
        try await InProcessBaton { $0.apiTokens = [APIToken(Self.token)] }.run { app, client in
            let (opened, open) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: [GatewayStatus].self) { group in
                group.addTask {
                    try await Self.statusEvents(port: client.port) { statuses in
                        open.yield()
                        return statuses.last?.state == .stopping
                    }
                }
                for await _ in opened { break }
                try await app.gateway.requestDrain(.stop, immediate: false, origin: .control)
                let statuses = try #require(try await group.next())
                #expect(statuses.first?.state == .ready)
                #expect(statuses.first?.instance == app.gateway.instance)
                #expect(statuses.last?.state == .stopping)
                #expect(statuses.last?.drain?.reason == .stop)
            }
        }
    }

    /// The `status` events of `GET /v1/status/events` (with the token) until `until`
    /// holds, checking that the stream then ends.
    static func statusEvents(port: Int, until: @escaping @Sendable ([GatewayStatus]) -> Bool) async throws -> [GatewayStatus] {
        try await withTimeout(.seconds(30), waitingFor: "status events") {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/status/events")
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            let response = try await HTTPClient.shared.execute(request, deadline: .distantFuture)
            #expect(response.status == .ok)
            #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
            var parser = ServerSentEventParser()
            var statuses: [GatewayStatus] = []
            var done = false
            for try await buffer in response.body {
                for event in parser.feed(buffer.readableBytesView) {
                    #expect(event.event == "status" && event.id == nil)
                    statuses.append(try WireFormat.decoder().decode(GatewayStatus.self, from: Data(event.data.utf8)))
                    done = done || until(statuses)
                }
            }
            // The loop above ends only when the server ends the stream.
            #expect(done, "the stream ended before: \(statuses.map(\.state))")
            return statuses
        }
    }
}
