import BatonTestSupport
import Foundation
import Glibc
import Testing

/// Who may speak as whom, against the real `baton` binary.
@Suite struct IdentityProcessTests {
    static let frontEnd = "front-end-token-0123456789"
    static let bob = "bob-token-0123456789ab"
    /// The acceptance tests' tokens, exactly.
    static let tokensYAML = """
        api_tokens:
          - "front-end-token-0123456789"
          - {token: "bob-token-0123456789ab", users: [bob], name: bob}

        """

    @Test func withoutTokensServeRefusesAnAddressOtherMachinesReachAndSaysHowToAllowIt() async throws {
        try await withBatonFixture({ $0.listen = "0.0.0.0:\($0.port)" }) { baton in
            for command in ["serve", "check-config"] {
                let refused = try await baton.baton(command)
                #expect(refused.termination == .exited(78), "\(refused)")
                #expect(refused.errors.contains("api_tokens"), "\(refused)")
                #expect(refused.errors.contains("0.0.0.0:\(baton.configuration.port)"), "\(refused)")
                #expect(refused.errors.contains("allow_unauthenticated: true"), "\(refused)")
            }

            let allowed = ["BATON_ALLOW_UNAUTHENTICATED": "true"]
            let check = try await baton.baton("check-config", environment: allowed)
            #expect(check.termination == .exited(0), "\(check)")
            let server = try await baton.startServer(environment: allowed)
            #expect(try await baton.client.post(session: "s", user: "bob", text: "hello", token: nil).status == 202)
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0), "\(baton.serverLogs)")
        }
    }

    @Test func aTokenCannotSpeakForAnotherUserAndTheControlSocketNeedsNoToken() async throws {
        try await withBatonFixture { baton in
            try baton.directory.write(baton.configuration.yaml + Self.tokensYAML, to: "baton.yaml")
            let check = try await baton.baton("check-config")
            #expect(check.termination == .exited(0), "\(check)")
            #expect(check.output.contains("bob speaks for bob"), "\(check)")
            #expect(!check.output.contains(Self.bob), "check-config printed a secret: \(check)")

            let server = try await baton.startServer()
            let client = baton.client
            let impersonation = try await client.post(session: "s", user: "alice", text: "hello", token: Self.bob)
            #expect(impersonation.status == 403, "\(impersonation.text)")
            #expect(impersonation.text.contains("alice"), "\(impersonation.text)")
            #expect(try await client.post(session: "ops", user: "alice", text: "/restart now", token: Self.bob).status == 403)
            let sent = try await client.post(session: "s", user: "bob", text: "hello", token: Self.bob)
            #expect(sent.status == 202, "\(sent.text)")
            #expect(try await client.post(session: "s", user: "alice", text: "hello", token: Self.frontEnd).status == 202)

            let session = try await client.get("/v1/sessions/ops", token: Self.frontEnd)
            #expect(session.text.contains(#""last_event_id":0"#), "the refused /restart stored nothing: \(session.text)")
            let metrics = try await client.get("/metrics", token: Self.frontEnd).text
            #expect(metrics.contains(#"baton_impersonations_rejected_total{token="bob"} 2"#), "\(metrics)")
            #expect(metrics.contains(#"baton_impersonations_rejected_total{token="token-1"} 0"#), "\(metrics)")
            #expect(!metrics.contains(Self.bob) && !metrics.contains(Self.frontEnd), "a secret in /metrics")

            // The control socket steers Baton without any token.
            let status = try await baton.baton("status")
            #expect(status.termination == .exited(0), "\(status)")
            let stop = try await baton.baton("stop", "--wait")
            #expect(stop.termination == .exited(0), "\(stop)")
            #expect(try await server.exit(within: .seconds(5)) == .exited(0), "\(baton.serverLogs)")

            let logs = baton.serverLogs
            #expect(logs.contains("baton.token=bob"), "the refusal is logged with the token's name: \(logs)")
            #expect(logs.contains("warning"), "\(logs)")
            #expect(!logs.contains(Self.bob) && !logs.contains(Self.frontEnd), "a secret was logged: \(logs)")
        }
    }

    @Test func tokensComeFromTheSystemdCredential() async throws {
        try await withBatonFixture { baton in
            let credentials = try baton.directory.subdirectory("credentials")
            try baton.directory.write(
                "- {token: \"carol-token-0123456789\", users: [carol], name: carol}\n", to: "credentials/api-tokens")
            let server = try await baton.startServer(environment: ["CREDENTIALS_DIRECTORY": credentials])
            let client = baton.client
            #expect(try await client.post(session: "s", user: "carol", text: "hello", token: nil).status == 401)
            #expect(try await client.post(session: "s", user: "carol", text: "hello", token: "carol-token-0123456789").status == 202)
            #expect(try await client.post(session: "s", user: "dave", text: "hello", token: "carol-token-0123456789").status == 403)
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0), "\(baton.serverLogs)")
        }
    }

    @Test func controlCommandsWorkForAUserWhoCannotReadTheTokenFile() async throws {
        try await withBatonFixture { baton in
            let server = try await baton.startServer()
            // A token file the control commands' user cannot read (here: one that is gone).
            try baton.directory.write(baton.configuration.yaml + "api_tokens_file: /nonexistent/api-tokens\n", to: "baton.yaml")
            let status = try await baton.baton("status")
            #expect(status.termination == .exited(0), "\(status)")
            let check = try await baton.baton("check-config")
            #expect(check.termination == .exited(78) && check.errors.contains("api_tokens_file"), "\(check)")
            let stop = try await baton.baton("stop", "--wait")
            #expect(stop.termination == .exited(0), "\(stop)")
            #expect(try await server.exit(within: .seconds(5)) == .exited(0), "\(baton.serverLogs)")
        }
    }
}
