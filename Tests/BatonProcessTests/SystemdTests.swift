import BatonTestSupport
import Foundation
import Testing

/// `baton.service` under a real systemd user manager. One at a time: each test runs its
/// own manager, and the machine has two cores.
@Suite(
    .serialized,
    .enabled(
        if: SystemdUserManager.isAvailable,
        "needs root, unshare, nsenter and /lib/systemd/systemd for a systemd user manager in a private mount namespace"),
    .timeLimit(.minutes(3))
)
struct SystemdTests {
    @Test func reloadMidTurnFinishesTheTurnRelaunchesAndAnswersEverythingInOrder() async throws {
        try await withBatonUnit({ $0.agentDelay = 3; $0.drainTimeout = 20 }) { unit in
            let manager = unit.manager, client = unit.client
            try await manager.systemctl("start", BatonUnit.service)
            let before = try await client.status()
            #expect(before.state == "ready")
            #expect(before.supervisor == "systemd")

            try await withEventFollowers(client, sessions: ["busy", "idle"]) { logs in
                let busy = logs["busy"]!, idle = logs["idle"]!
                let slow = try await client.send(session: "busy", text: "a turn of a few seconds")
                #expect(slow.acknowledgement.status == "accepted")

                // Returns as soon as the signal is delivered, with the drain under way.
                try await manager.systemctl("reload-or-restart", BatonUnit.service)
                try await eventually("the drain to begin", timeout: .seconds(10)) {
                    try await client.status().state == "draining" ? true : nil
                }
                let behind = try await client.send(session: "busy", text: "to the busy session during the drain")
                let waiting = try await client.send(session: "idle", text: "to an idle session during the drain")
                for message in [behind, waiting] {
                    #expect(message.acknowledgement.status == "queued")
                    #expect(message.instance == before.instance)
                }

                let busyEvents = try await busy.waitForReplies(to: [slow, behind])
                let idleEvents = try await idle.waitForReplies(to: [waiting])
                let after = try await client.status()
                #expect(after.instance != before.instance)
                #expect(after.state == "ready")
                #expect(try await unit.restarts() == 1)
                let fresh = try await client.send(session: "idle", text: "after the restart")
                #expect(fresh.instance == after.instance)

                // The turn in flight finished in the old process, before its goodbye.
                let goodbye = try #require(busyEvents.firstGoodbye)
                #expect(try #require(busyEvents.firstReply(to: slow.id)) < goodbye)
                #expect(busyEvents[goodbye].payload?.reason == "restart")
                #expect(busyEvents[goodbye].payload?.instance == before.instance)
                #expect(busyEvents.firstNotice("interrupted") == nil)
                // Every message answered once, in the order accepted.
                #expect(busyEvents.replyTargets == [slow.id, behind.id])
                #expect(idleEvents.replyTargets == [waiting.id])
                #expect(try #require(idleEvents.firstNotice("draining", about: waiting.id)) < idleEvents.firstReply(to: waiting.id)!)
                // The followers resumed with Last-Event-ID across the restart: nothing twice.
                try await expectResumedStreamsAreExact(client, logs: [busy, idle])
                expectCleanExits(unit)
            }
        }
    }

    @Test func restartWaitReturnsOnceSystemdHasStartedTheNextProcess() async throws {
        try await withBatonUnit({ $0.agentDelay = 2 }) { unit in
            try await unit.manager.systemctl("start", BatonUnit.service)
            let before = try await unit.client.status()
            let slow = try await unit.client.send(session: "s", text: "in flight during baton restart --wait")
            let restart = try await ChildProcess.run(
                try BatonBinary.path(), arguments: ["restart", "--wait", "--config", unit.configurationPath],
                environment: ProcessInfo.cleanEnvironment)
            #expect(restart.termination == .exited(0), "\(restart)")
            // Returned only once the next process was ready: it answers at once.
            let after = try await unit.client.status()
            #expect(after.instance != before.instance)
            #expect(after.state == "ready")
            #expect(restart.output.contains("Instance \(after.instance) is ready"), "\(restart)")
            #expect(try await unit.restarts() == 1)
            let events = try await unit.client.events(session: "s") { $0.firstReply(to: slow.id) != nil }
            #expect(events.firstReply(to: slow.id)! < events.firstGoodbye ?? Int.max)
            expectCleanExits(unit)
        }
    }

    @Test func anInvalidConfigurationFailsTheUnitWithoutRestarts() async throws {
        try await withBatonUnit(serviceSettings: ["Environment=BATON_DRAIN_TIMEOUT=soon"]) { unit in
            let start = try await unit.manager.systemctl(["start", BatonUnit.service], check: false)
            #expect(start.termination != .exited(0))
            let state = try await unit.manager.show(
                BatonUnit.service, ["ActiveState", "Result", "ExecMainStatus", "NRestarts"])
            #expect(state["ExecMainStatus"] == "78", "\(state)")
            #expect(state["NRestarts"] == "0", "RestartPreventExitStatus=78: \(state)")
            #expect(state["ActiveState"] == "failed", "\(state)")
            #expect(unit.log.contains("drain.timeout"), "\(unit.log)")
        }
    }
}

/// Every process of the unit ended by a drain: none crashed or failed.
func expectCleanExits(_ unit: BatonUnit, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(unit.failureLines.isEmpty, "a process ended badly:\n\(unit.log)", sourceLocation: sourceLocation)
}

/// Checks what followers saw against the store: ids only grew, every event matches the
/// stored one with its id, and a stream resumed from the middle gives exactly the rest.
func expectResumedStreamsAreExact(_ client: BatonHTTPClient, logs: [EventLog]) async throws {
    for log in logs {
        let seen = log.events
        #expect(seen.idsStrictlyIncrease, "session \(log.session): \(log.snapshot)")
        let stored = try await client.allEvents(session: log.session)
        let storedByID = stored.byID
        for event in seen where event.id != nil {
            #expect(storedByID[event.id!] == event, "session \(log.session): \(event) differs from the stored one")
        }
        let ids = stored.numberedIDs
        #expect(ids == Array(1...Int64(ids.count)), "session \(log.session) ids have gaps or repeats: \(ids)")
        guard ids.count > 1 else { continue }
        let middle = ids[ids.count / 2]
        let resumed = try await client.events(session: log.session, after: middle) { $0.numberedIDs.last == ids.last }
        #expect(resumed.filter { $0.id != nil } == stored.filter { ($0.id ?? 0) > middle })
    }
}
