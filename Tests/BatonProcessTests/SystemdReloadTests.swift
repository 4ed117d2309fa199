import BatonTestSupport
import Foundation
import Testing

extension SystemdTests {
    /// `systemctl reload` (and `reload-or-restart`) with a turn in flight returns while the
    /// old process is still draining, every time: before the turn ends, the old process
    /// exits or the next one is ready. Then the drain completes, exactly one restart
    /// follows, and the next process answers.
    @Test func reloadReturnsBeforeTheDrainEndsEveryTime() async throws {
        try await withBatonUnit({ $0.agentDelay = 2; $0.drainTimeout = 30 }) { unit in
            let manager = unit.manager, client = unit.client
            try await manager.systemctl("start", BatonUnit.service)
            var instance = try await client.status().instance
            for round in 1...6 {
                let session = "reload-\(round)"
                let pid = try await unit.mainPID()
                let current = instance
                instance = try await withEventFollowers(client, sessions: [session]) { logs in
                    let log = logs[session]!
                    try await log.waitUntilOpen()
                    let slow = try await client.send(session: session, text: "in flight during reload \(round)")
                    #expect(slow.acknowledgement.status == "accepted")

                    let verb = round.isMultiple(of: 2) ? "reload-or-restart" : "reload"
                    try await manager.systemctl(verb, BatonUnit.service)
                    // Returned: the old process is still the unit's main process, draining, with
                    // the turn still running and unanswered.
                    let unitState = try await manager.show(BatonUnit.service, ["MainPID", "ActiveState", "SubState", "StatusText"])
                    #expect(unitState["MainPID"] == "\(pid)", "round \(round): \(verb) returned after the old process exited: \(unitState)")
                    #expect(unitState["ActiveState"] == "active", "round \(round): \(unitState)")
                    #expect(unitState["StatusText"]?.hasPrefix("Draining for restart") == true, "round \(round): \(unitState)")
                    let during = try await client.status()
                    #expect(during.instance == current, "round \(round): \(verb) returned once the next process was ready")
                    #expect(during.state == "draining" && during.inFlight == 1, "round \(round): \(during)")
                    #expect(log.events.firstReply(to: slow.id) == nil, "round \(round): \(verb) returned after the turn ended")

                    // The drain completes in the old process and the next one answers.
                    let events = try await log.waitForReplies(to: [slow])
                    let next = try await eventually("the process after reload \(round)", timeout: .seconds(30)) { () -> GatewayStatusBody? in
                        // A request may meet the old process closing its connections.
                        guard let status = try? await client.status() else { return nil }
                        return status.instance != current && status.state == "ready" ? status : nil
                    }
                    let reply = try #require(events.firstReply(to: slow.id))
                    let goodbye = try #require(log.events.firstGoodbye, "round \(round): \(log.events)")
                    #expect(reply < goodbye)
                    #expect(events.firstNotice("interrupted") == nil)
                    let fresh = try await client.send(session: session, text: "after reload \(round)")
                    #expect(fresh.instance == next.instance)
                    // Answered, so that the next round starts with one turn in flight.
                    try await log.waitForReplies(to: [slow, fresh])
                    #expect(try await unit.restarts() == round, "exactly one restart per reload")
                    return next.instance
                }
            }
            expectCleanExits(unit)
        }
    }

    /// A `systemctl stop` during a restart drain wins: the unit shows as stopping, the turn
    /// in flight still finishes, the process exits 0 and systemd starts no next one.
    @Test func aStopDuringARestartDrainWins() async throws {
        try await withBatonUnit({ $0.agentDelay = 3; $0.drainTimeout = 30 }) { unit in
            let manager = unit.manager, client = unit.client
            try await manager.systemctl("start", BatonUnit.service)
            try await withEventFollowers(client, sessions: ["s"]) { logs in
                let log = logs["s"]!
                try await log.waitUntilOpen()
                let slow = try await client.send(session: "s", text: "in flight through a reload and a stop")
                try await manager.systemctl("reload", BatonUnit.service)
                #expect(try await client.status().state == "draining")
                #expect(try await manager.property(BatonUnit.service, "SubState") == "running")

                try await manager.systemctl("--no-block", "stop", BatonUnit.service)
                let stopping = try await eventually("the unit to show the stop", timeout: .seconds(10)) {
                    let state = try await manager.show(BatonUnit.service, ["ActiveState", "SubState", "StatusText"])
                    return state["ActiveState"] == "deactivating" ? state : nil
                }
                #expect(stopping["StatusText"]?.contains("for stop") == true, "\(stopping)")
                let ended = try await eventually("the unit to stop", timeout: .seconds(30)) {
                    let state = try await manager.show(BatonUnit.service, ["ActiveState", "Result", "ExecMainStatus", "NRestarts"])
                    return state["ActiveState"] == "inactive" ? state : nil
                }
                #expect(ended["ExecMainStatus"] == "0", "\(ended)")
                #expect(ended["Result"] == "success", "\(ended)")
                #expect(ended["NRestarts"] == "0", "stop wins: no next process: \(ended)")
                let events = log.events
                let reply = try #require(events.firstReply(to: slow.id), "\(events)")
                let goodbye = try #require(events.firstGoodbye)
                #expect(reply < goodbye)
                #expect(events[goodbye].payload?.reason == "stop")
                expectCleanExits(unit)
            }
        }
    }
}
