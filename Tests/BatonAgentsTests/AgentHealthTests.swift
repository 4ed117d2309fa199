import BatonApp
import BatonCore
import Foundation
import Testing

/// The agent's health while turns run: probes, `offline`, and coming back.
@Suite struct AgentHealthTests {
    @Test func anExecAgentIsStartingUntilItsFirstTurn() async throws {
        try await TestGateway.run({
            $0.agent.kind = .exec
            $0.agent.command = [Scripts.execTestAgent]
        }) { gateway in
            #expect(await gateway.app.gateway.status().agent.health == .starting)
            let id = try await gateway.send("echo", session: "e1")
            _ = try await gateway.reply(to: id, session: "e1")
            try await gateway.status("health ready") { $0.agent.health == .ready }
            let status = try await gateway.json("/v1/status")
            #expect((status["agent"] as? [String: Any])?["health"] as? String == "ready")
        }
    }

    @Test func anHTTPAgentIsReadyOnceAProbeSucceeds() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run(HTTPAgentTests.agent(at: server)) { gateway in
                // No message needed: an agent that is not ready yet is probed.
                try await gateway.status("health ready") { $0.agent.health == .ready }
            }
        }
    }

    /// Runs `body` with an HTTP agent that is ready, probed every `interval` seconds (the
    /// test gateway's 0.2 s when nil); no turn of a test runs into its timeout.
    private func withReadyAgent(probedEvery interval: Double? = nil, _ body: (TestAgentServer, TestGateway) async throws -> Void) async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run({
                HTTPAgentTests.agent(at: server)(&$0)
                if let interval { $0.agent.healthInterval = interval }
            }) { gateway in
                try await gateway.status("health ready") { $0.agent.health == .ready }
                try await body(server, gateway)
            }
        }
    }

    /// Runs `body` with an HTTP agent that is ready, then fails its health probes from now
    /// on, and a turn timeout too long to end any turn of the test.
    private func withAgentGoingOffline(_ body: (TestAgentServer, TestGateway) async throws -> Void) async throws {
        try await withReadyAgent { server, gateway in
            try await server.setHealth("fail")
            try await body(server, gateway)
        }
    }

    @Test func failingProbesFailTheTurnInFlightLongBeforeTheTurnTimeout() async throws {
        try await withAgentGoingOffline { server, gateway in
            let hung = try await gateway.send("slow", session: "u1")
            try await server.output.wait(for: "turn started \(hung)")

            let notice = try await gateway.event(session: "u1", "the unreachable notice") { $0.isNotice("error", about: hung) }
            #expect(notice.text?.contains("The agent is unreachable") == true)
            let status = try await gateway.json("/v1/status")
            #expect((status["agent"] as? [String: Any])?["health"] as? String == "offline")
            #expect(await gateway.app.gateway.sessionStatus("u1").state == .idle)

            try await server.setHealth("ok")
            try await gateway.status("health ready again") { $0.agent.health == .ready }
            let next = try await gateway.send("plain", session: "u1")
            #expect(try await gateway.reply(to: next, session: "u1") == "plain reply")
        }
    }

    @Test("A turn started while the agent is offline fails at the next failed probe, not at the turn timeout")
    func aTurnStartedWhileOfflineFailsAtTheNextFailedProbe() async throws {
        try await withAgentGoingOffline { server, gateway in
            // Probes run while a turn does: the first hung turn takes health offline.
            let first = try await gateway.send("slow", session: "u2")
            _ = try await gateway.event(session: "u2", "the first unreachable notice") { $0.isNotice("error", about: first) }
            #expect(await gateway.app.gateway.status().agent.health == .offline)
            let hung = try await gateway.send("slow", session: "u2")
            try await server.output.wait(for: "turn started \(hung)")
            let notice = try await gateway.event(session: "u2", "the unreachable notice") { $0.isNotice("error", about: hung) }
            #expect(notice.text?.contains("The agent is unreachable") == true)
            #expect(await gateway.app.gateway.sessionStatus("u2").state == .idle)
        }
    }

    @Test("More turns than an HTTP client's default pool (8) reach the agent at once, and the probe, not queued behind them, finds it healthy")
    func manyTurnsReachTheAgentAtOnceAndTheProbeIsNotQueuedBehindThem() async throws {
        try await withReadyAgent(probedEvery: 1) { server, gateway in
            var ids: [String] = []
            for n in 1...12 { ids.append(try await gateway.send("slow", session: "many-\(n)")) }
            for id in ids { try await server.output.wait(for: "turn started \(id)") }
            let probes = server.output.count(of: "health probed")
            try await server.output.wait(for: "health probed", times: probes + 3)
            let status = await gateway.app.gateway.status()
            #expect(status.agent.health == .ready)
            #expect(status.inFlight == 12, "every turn still running: none failed as unreachable")
        }
    }

    @Test("Two turns whose connections the agent dropped do not fail a third still streaming; only a failed probe would")
    func droppedConnectionsDoNotFailOtherTurns() async throws {
        try await withReadyAgent(probedEvery: 2) { server, gateway in
            let streaming = try await gateway.send("slow", session: "d1")
            try await server.output.wait(for: "turn started \(streaming)")
            async let first = gateway.send("drop", session: "d2")
            async let second = gateway.send("drop", session: "d3")
            let dropped = try await [(first, "d2"), (second, "d3")]
            for (id, session) in dropped {
                let notice = try await gateway.event(session: session, "the error notice") { $0.isNotice("error", about: id) }
                #expect(notice.text?.contains("could not be reached") == true, "\(notice.text ?? "")")
            }
            try await gateway.status("health offline") { $0.agent.health == .offline }
            try await gateway.status("health ready again, from a probe") { $0.agent.health == .ready }
            #expect(await gateway.app.gateway.status().inFlight == 1, "the streaming turn still runs")
            #expect(await gateway.app.gateway.sessionStatus("d1").state != .idle)
        }
    }

    @Test("A health URL that redirects (to its form with a slash, say) is followed: the agent is healthy")
    func aRedirectedProbeIsFollowed() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run({
                HTTPAgentTests.agent(at: server)(&$0)
                $0.agent.healthURL = "\(server.url)/health-moved"
            }) { gateway in
                try await gateway.status("health ready") { $0.agent.health == .ready }
            }
        }
    }

    @Test func aHealthyProbeWithALongPageIsHealthy() async throws {
        try await TestAgentServer.run { server in
            try await server.setHealth("big")
            try await TestGateway.run(HTTPAgentTests.agent(at: server)) { gateway in
                try await gateway.status("health ready") { $0.agent.health == .ready }
            }
        }
    }

    @Test func aHangingHealthCheckCountsAsFailed() async throws {
        try await TestAgentServer.run { server in
            try await TestGateway.run(HTTPAgentTests.agent(at: server)) { gateway in
                try await gateway.status("health ready") { $0.agent.health == .ready }
                try await server.setHealth("hang")
                let hung = try await gateway.send("slow", session: "u2")
                let notice = try await gateway.event(session: "u2", "the unreachable notice") { $0.isNotice("error", about: hung) }
                #expect(notice.text?.contains("The agent is unreachable") == true)
            }
        }
    }

    @Test func anAgentKilledMidTurnGoesOfflineThenComesBack() async throws {
        try await TestAgentServer.run { first in
            try await TestGateway.run(HTTPAgentTests.agent(at: first)) { gateway in
                try await gateway.status("health ready") { $0.agent.health == .ready }
                let doomed = try await gateway.send("slow", session: "k1")
                try await first.output.wait(for: "turn started \(doomed)")
                first.kill()

                // Far sooner than agent.turn_timeout (an hour here).
                let notice = try await gateway.event(session: "k1", "the error notice", timeout: .seconds(10)) {
                    $0.isNotice("error", about: doomed)
                }
                #expect(notice.text?.contains("could not be reached") == true || notice.text?.contains("unreachable") == true)
                try await gateway.status("health offline") { $0.agent.health == .offline }

                try await TestAgentServer.run(port: first.port) { _ in
                    try await gateway.status("health ready again") { $0.agent.health == .ready }
                    let next = try await gateway.send("plain", session: "k1")
                    #expect(try await gateway.reply(to: next, session: "k1") == "plain reply")
                }
            }
        }
    }
}
