import BatonApp
import BatonCore
import Foundation
import Testing

/// `agent.kind: http` against a real service on loopback: the example agent and the
/// HTTP test agent.
@Suite struct HTTPAgentTests {
    /// The HTTP agent at `server`, with its health probe.
    static func agent(at server: TestAgentServer) -> (inout Configuration) -> Void {
        { configuration in
            configuration.agent.kind = .http
            configuration.agent.url = "\(server.url)/turn"
            configuration.agent.healthURL = "\(server.url)/health"
        }
    }

    @Test func exampleAgentAnswers() async throws {
        try await TestAgentServer.run(script: Scripts.httpExample) { server in
            try await TestGateway.run(Self.agent(at: server)) { gateway in
                let id = try await gateway.send("hello there", session: "h1")
                #expect(try await gateway.reply(to: id, session: "h1") == "bob, you said: hello there")
            }
        }
    }

    @Test func theTurnIsPostedAsJSONWithBatonsHeaders() async throws {
        struct Echo: Decodable {
            var turn: TurnRequest
            var headers: [String: String?]
        }
        try await TestAgentServer.run { server in
            try await TestGateway.run(Self.agent(at: server)) { gateway in
                let id = try await gateway.send("echo", session: "h2", user: "carol")
                let echo = try JSONDecoder().decode(Echo.self, from: Data(try await gateway.reply(to: id, session: "h2").utf8))
                let instance = gateway.app.gateway.instance
                #expect(echo.turn == TurnRequest(id: id, session: "h2", user: "carol", text: "echo", instance: instance))
                #expect(echo.headers["Baton-Instance"] == instance)
                #expect(echo.headers["Baton-Session"] == "h2")
                #expect(echo.headers["Idempotency-Key"] == id)
                #expect(echo.headers["Content-Type"] == "application/json")
            }
        }
    }

    @Test func plainTextAndEventStreamsAreOneReplyEach() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run(Self.agent(at: server)) { gateway in
                let plain = try await gateway.send("plain", session: "h3")
                let streamed = try await gateway.send("sse", session: "h3")
                let empty = try await gateway.send("empty", session: "h3")
                let last = try await gateway.send("echo", session: "h3")
                let events = try await gateway.events(session: "h3", until: "the last reply") { $0.isReply(to: last) }
                #expect(events.filter { $0.isReply(to: plain) }.map(\.text) == ["plain reply"])
                #expect(events.filter { $0.isReply(to: streamed) }.map(\.text) == ["Hello, world"])
                #expect(!events.contains { $0.isReply(to: empty) || $0.isNotice("error", about: empty) })
            }
        }
    }

    @Test func aServerErrorIsAnErrorNoticeNamingTheStatus() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run(Self.agent(at: server)) { gateway in
                let failing = try await gateway.send("fail", session: "h4")
                let notice = try await gateway.event(session: "h4", "the error notice") { $0.isNotice("error", about: failing) }
                #expect(notice.text?.contains("HTTP 500") == true)
                let next = try await gateway.send("plain", session: "h4")
                #expect(try await gateway.reply(to: next, session: "h4") == "plain reply")
            }
        }
    }

    @Test("A redirect is the agent's answer, an error naming it: not followed, so no POST becomes a GET elsewhere")
    func aRedirectIsNotFollowed() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run(Self.agent(at: server)) { gateway in
                let moved = try await gateway.send("moved", session: "h7")
                let events = try await gateway.events(session: "h7", until: "the error notice") { $0.isNotice("error", about: moved) }
                #expect(events.last?.text?.contains("HTTP 301") == true, "\(events)")
                #expect(!events.contains { $0.isReply(to: moved) })
            }
        }
    }

    @Test func aRefusedConnectionIsAnErrorNoticeNamingTheCause() async throws {
        // A port that was just free: nothing listens there any more.
        let port = try await TestAgentServer.run { $0.port }
        try await TestGateway.run({
            $0.agent.kind = .http
            $0.agent.url = "http://127.0.0.1:\(port)/turn"
        }) { gateway in
            let id = try await gateway.send("echo", session: "h5")
            let notice = try await gateway.event(session: "h5", "the error notice") { $0.isNotice("error", about: id) }
            #expect(notice.text?.contains("could not be reached (connection refused)") == true)
        }
    }

    @Test func aNewMessageCancelsTheRequestInFlight() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run({
                Self.agent(at: server)(&$0)
                $0.busyInput = .interrupt
            }) { gateway in
                let slow = try await gateway.send("slow", session: "h6")
                try await server.output.wait(for: "turn started \(slow)")
                let next = try await gateway.send("plain", session: "h6")
                let events = try await gateway.events(session: "h6", until: "the next reply") { $0.isReply(to: next) }
                #expect(events.contains { $0.isNotice("interrupted", about: slow) })
            }
        }
    }
}
