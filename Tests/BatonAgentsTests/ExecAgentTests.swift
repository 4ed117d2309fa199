import BatonAgents
import BatonApp
import BatonCore
import Foundation
import Testing

/// `agent.kind: exec` against real processes: the example agent and the exec test agent.
@Suite struct ExecAgentTests {
    /// The exec test agent, writing its process ids under `pids`.
    static func testAgent(pids: String = "") -> (inout Configuration) -> Void {
        { configuration in
            configuration.agent.kind = .exec
            configuration.agent.command = [Scripts.execTestAgent] + (pids.isEmpty ? [] : ["--pids", pids])
        }
    }

    @Test func exampleAgentRepliesLineByLineAndLogsItsStandardError() async throws {
        try await TestGateway.run({
            $0.agent.kind = .exec
            $0.agent.command = [Scripts.execExample]
        }) { gateway in
            let id = try await gateway.send("hello brave new world", session: "s1")
            let events = try await gateway.events(session: "s1", until: "the second reply") {
                $0.isReply(to: id) && $0.text == "world new brave hello"
            }
            #expect(events.filter { $0.isReply(to: id) }.map(\.text) == ["bob said 4 words.", "world new brave hello"])

            // Once the turn has ended, its standard error is in the log, with the turn's ids.
            try await gateway.status("the turn to end") { $0.inFlight == 0 }
            let logged = try #require(gateway.logEntries(containing: "answering bob in s1").first)
            #expect(logged.metadata["baton.session"].map { "\($0)" } == "s1")
            #expect(logged.metadata["baton.message"].map { "\($0)" } == id)
        }
    }

    @Test("An agent's process does not get the gateway's secrets from its environment")
    func theAgentDoesNotGetTheGatewaysSecrets() async throws {
        let secrets = ["BATON_API_TOKENS", "BATON_MATRIX_ACCESS_TOKEN", "BATON_STORE_URL"]
        for name in secrets { setenv(name, "secret-of-\(name)", 1) }
        setenv("BATON_TEST_PLAIN", "seen", 1)
        defer {
            for name in secrets + ["BATON_TEST_PLAIN"] { unsetenv(name) }
        }
        try await TestGateway.run({
            $0.agent.kind = .exec
            $0.agent.command = ["/usr/bin/env"]
        }) { gateway in
            let id = try await gateway.send("what do you see?", session: "env")
            let environment = try await gateway.reply(to: id, session: "env")
            #expect(environment.contains("BATON_TEST_PLAIN=seen"), "the rest of the environment is inherited")
            for name in secrets {
                #expect(!environment.contains(name), "\(name) reached the agent")
            }
        }
    }

    @Test func theTurnArrivesOnStandardInputAsJSON() async throws {
        try await TestGateway.run(Self.testAgent()) { gateway in
            let id = try await gateway.send("echo this", session: "s2", user: "carol")
            let text = try await gateway.reply(to: id, session: "s2")
            let turn = try JSONDecoder().decode(TurnRequest.self, from: Data(text.utf8))
            #expect(turn == TurnRequest(id: id, session: "s2", user: "carol", text: "echo this", instance: gateway.app.gateway.instance))
        }
    }

    @Test func eachJSONLineIsAReplyAndPlainTextIsOne() async throws {
        try await TestGateway.run(Self.testAgent()) { gateway in
            let lines = try await gateway.send("lines 3", session: "s3")
            let plain = try await gateway.send("plain", session: "s3")
            let events = try await gateway.events(session: "s3", until: "the plain reply") { $0.isReply(to: plain) }
            #expect(events.filter { $0.isReply(to: lines) }.map(\.text) == ["line 1", "line 2", "line 3"])
            #expect(events.last?.text == "first line\nsecond line")
        }
    }

    @Test func aNonZeroExitIsAnErrorNoticeAndTheSessionMovesOn() async throws {
        try await TestGateway.run(Self.testAgent()) { gateway in
            let failing = try await gateway.send("fail 3", session: "s4")
            let next = try await gateway.send("echo", session: "s4")
            let events = try await gateway.events(session: "s4", until: "the next reply") { $0.isReply(to: next) }
            let notice = try #require(events.first { $0.isNotice("error", about: failing) })
            #expect(notice.text?.contains("exited with status 3") == true)
            #expect(!events.contains { $0.isReply(to: failing) })
            let logged = try #require(gateway.logEntries(containing: "failing on purpose for \(failing)").first)
            #expect(logged.metadata["baton.message"].map { "\($0)" } == failing)
        }
    }

    @Test func aChildLeftBehindNeitherHoldsTheTurnNorOutlivesIt() async throws {
        let pids = try Processes.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        try await TestGateway.run(Self.testAgent(pids: pids)) { gateway in
            let id = try await gateway.send("orphan", session: "s9")
            #expect(try await gateway.reply(to: id, session: "s9") == "left a child")
            // The child keeps the output pipes open, yet the turn ends with its process.
            try await gateway.status("the turn to end") { $0.inFlight == 0 }
            #expect(try await Processes.allGone(Processes.written(in: pids, for: id)))
        }
    }

    @Test func aNewMessageInterruptsTheRunningProcess() async throws {
        let pids = try Processes.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        try await TestGateway.run({
            Self.testAgent(pids: pids)(&$0)
            $0.busyInput = .interrupt
        }) { gateway in
            let slow = try await gateway.send("slow", session: "s5")
            #expect(try await gateway.reply(to: slow, session: "s5") == "working")
            let next = try await gateway.send("echo", session: "s5")
            let events = try await gateway.events(session: "s5", until: "the next reply") { $0.isReply(to: next) }
            #expect(events.contains { $0.isNotice("interrupted", about: slow) })
            #expect(try await Processes.allGone(Processes.written(in: pids, for: slow)))
        }
    }

    @Test func aProcessGroupIgnoringSIGTERMIsKilledAfterTheGrace() async throws {
        let pids = try Processes.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        try await TestGateway.run({
            Self.testAgent(pids: pids)(&$0)
            $0.busyInput = .interrupt
            $0.drain.interruptGrace = 0.5
        }) { gateway in
            let stubborn = try await gateway.send("stubborn", session: "s6")
            #expect(try await gateway.reply(to: stubborn, session: "s6") == "stubborn")
            let group = try Processes.written(in: pids, for: stubborn)
            #expect(group.count == 2)
            let next = try await gateway.send("echo", session: "s6")
            let events = try await gateway.events(session: "s6", until: "the next reply") { $0.isReply(to: next) }
            #expect(events.contains { $0.isNotice("interrupted", about: stubborn) })
            // Both the process and the child it started, though both ignore SIGTERM.
            #expect(try await Processes.allGone(group))
        }
    }

    @Test(
        "An interrupted agent has drain.interrupt_grace to shut down: what it says meanwhile reaches the log, and the agent behind a wrapper that dies at SIGTERM gets the grace too",
        arguments: [false, true])
    func anInterruptedAgentHasItsGrace(behindAWrapper: Bool) async throws {
        let directory = try Processes.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let marker = (directory as NSString).appendingPathComponent("saved")
        try await TestGateway.run({
            $0.agent.kind = .exec
            // sh runs the agent as a child (not exec'd: a command follows), and dies at SIGTERM.
            $0.agent.command = behindAWrapper ? ["/bin/sh", "-c", "\"$0\"; true", Scripts.execTestAgent] : [Scripts.execTestAgent]
            $0.busyInput = .interrupt
            $0.drain.interruptGrace = 10
        }) { gateway in
            let working = try await gateway.send("\(behindAWrapper ? "quiet" : "graceful") \(marker)", session: "g1")
            #expect(try await gateway.reply(to: working, session: "g1") == "working")
            let next = try await gateway.send("echo", session: "g1")
            let events = try await gateway.events(session: "g1", until: "the next reply") { $0.isReply(to: next) }
            #expect(events.contains { $0.isNotice("interrupted", about: working) })
            #expect(FileManager.default.fileExists(atPath: marker), "the agent was killed before it had shut down")
            if !behindAWrapper {
                #expect(gateway.logs.entries.contains { "\($0.message)" == "Agent stderr: saving state" }, "\(gateway.logs.entries)")
            }
        }
    }

    @Test("An agent's standard error is logged up to 64 KiB a turn; the rest is counted in one line")
    func standardErrorIsLoggedUpToABudget() async throws {
        try await TestGateway.run(Self.testAgent()) { gateway in
            let noisy = try await gateway.send("noisy 10000", session: "n1")
            #expect(try await gateway.reply(to: noisy, session: "n1") == "done")
            try await gateway.status("the turn's end") { $0.inFlight == 0 }
            let logged = gateway.logs.entries.filter { "\($0.message)".hasPrefix("Agent stderr: ") }
            let lineBytes = 101
            let budgetLines = ExecAgent.stderrBudget / lineBytes + 1
            #expect(logged.count == budgetLines, "\(logged.count) lines logged")
            let summary = gateway.logs.entries.first { "\($0.message)".contains("was not logged") }
            let notLogged = (10000 - budgetLines) * lineBytes
            #expect(summary?.metadata["baton.bytes_not_logged"] == "\(notLogged)")
        }
    }

    @Test func restartNowEndsTheTurnsProcess() async throws {
        let pids = try Processes.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        try await TestGateway.run({
            Self.testAgent(pids: pids)(&$0)
            $0.admins = ["alice"]
        }) { gateway in
            let slow = try await gateway.send("slow", session: "s7")
            #expect(try await gateway.reply(to: slow, session: "s7") == "working")
            try await gateway.send("/restart now", session: "admin", user: "alice")
            // The gateway is on its way out; the turn's process must be too.
            #expect(try await Processes.allGone(Processes.written(in: pids, for: slow)))
        }
    }

    @Test func theTurnTimeoutStopsTheProcess() async throws {
        let pids = try Processes.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: pids) }
        try await TestGateway.run({
            Self.testAgent(pids: pids)(&$0)
            $0.agent.turnTimeout = 5
        }) { gateway in
            let slow = try await gateway.send("slow", session: "s8")
            #expect(try await gateway.reply(to: slow, session: "s8") == "working")
            let notice = try await gateway.event(session: "s8", "the timeout notice") { $0.isNotice("error", about: slow) }
            #expect(notice.text?.contains("agent.turn_timeout") == true)
            #expect(try await Processes.allGone(Processes.written(in: pids, for: slow)))
        }
    }

    @Test func aMissingProgramStopsTheStartNamingTheKey() async throws {
        var configuration = Configuration(stateDirectory: NSTemporaryDirectory())
        configuration.agent.kind = .exec
        configuration.agent.command = ["baton-no-such-agent-program"]
        await #expect {
            _ = try await buildApplication(configuration: configuration, environment: [:], logger: .init(label: "test"))
        } throws: { error in
            (error as? ConfigurationError)?.key == "agent.command"
        }
    }
}
