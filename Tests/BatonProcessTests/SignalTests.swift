import BatonTestSupport
import Glibc
import Testing

/// The real `baton serve` and the signals that drain it.
@Suite struct SignalTests {
    /// SIGUSR1 is `systemctl reload`; SIGHUP, the reload signal by habit (nginx, HAProxy,
    /// gunicorn), is one too rather than an end without a drain.
    @Test(arguments: [SIGUSR1, SIGHUP])
    func aReloadSignalFinishesTheTurnInFlightThenExits75(signal: Int32) async throws {
        try await withBatonFixture({ $0.agentDelay = 1.5 }) { baton in
            let client = baton.client
            let first = try await baton.startServer()
            try await withEventFollowers(client, sessions: ["busy", "idle"]) { logs in
                let busy = logs["busy"]!, idle = logs["idle"]!
                try await busy.waitUntilOpen()
                let slow = try await client.send(session: "busy", text: "a slow turn")
                #expect(slow.acknowledgement.status == "accepted")

                first.send(signal)
                try await first.drainStarted()
                // During the drain every message waits for the next process, busy session or idle.
                let behind = try await client.send(session: "busy", text: "sent during the drain")
                let waiting = try await client.send(session: "idle", text: "to an idle session during the drain")
                #expect(behind.acknowledgement.status == "queued")
                #expect(waiting.acknowledgement.status == "queued")

                let firstEnded = try await first.exit()
                #expect(firstEnded == .exited(75), "\(baton.serverLogs)")
                // A restart drain never tells systemd it is stopping (a reload job would wait for it).
                #expect(first.notifications.received.allSatisfy { $0["STOPPING"] == nil }, "\(first.notifications.received)")
                let drained = busy.events
                let slowReply = try #require(drained.firstReply(to: slow.id), "the turn in flight was answered before the exit: \(drained)")
                let goodbye = try #require(drained.firstGoodbye)
                #expect(slowReply < goodbye)
                #expect(drained[goodbye].payload?.reason == "restart")
                #expect(drained.firstNotice("interrupted") == nil)
                #expect(drained.firstReply(to: behind.id) == nil)

                // The next process answers what was queued, in order.
                let second = try await baton.startServer()
                let busyEvents = try await busy.waitForReplies(to: [slow, behind])
                let idleEvents = try await idle.waitForReplies(to: [waiting])
                #expect(busyEvents.answeredMessages == [slow.id, behind.id])
                #expect(idleEvents.firstNotice("draining", about: waiting.id)! < idleEvents.firstReply(to: waiting.id)!)
                #expect(busyEvents.idsStrictlyIncrease)
                #expect(idleEvents.idsStrictlyIncrease)

                second.send(SIGTERM)
                let secondEnded = try await second.exit()
                #expect(secondEnded == .exited(0), "\(baton.serverLogs)")
            }
        }
    }

    @Test func sigtermFinishesTheTurnInFlightThenExits0() async throws {
        try await withBatonFixture({ $0.agentDelay = 1 }) { baton in
            let client = baton.client
            let server = try await baton.startServer()
            try await withEventFollowers(client, sessions: ["s"]) { logs in
                try await logs["s"]!.waitUntilOpen()
                let slow = try await client.send(session: "s", text: "finish me")
                server.send(SIGTERM)
                try await server.notifications.wait(for: "STOPPING", value: "1", timeout: .seconds(10))
                let serverEnded = try await server.exit()
                #expect(serverEnded == .exited(0), "\(baton.serverLogs)")
                let events = logs["s"]!.events
                let reply = try #require(events.firstReply(to: slow.id), "\(events)")
                let goodbye = try #require(events.firstGoodbye)
                #expect(reply < goodbye)
                #expect(events[goodbye].payload?.reason == "stop")
            }
        }
    }

    /// systemd may stop a unit the moment it said READY=1. The signals are trapped before
    /// any service starts, so such a SIGTERM is a drain (exit 0), never the default action
    /// that kills the process (the startup benchmark once saw that: 1 start in 14).
    @Test func aSigtermTheMomentTheProcessIsReadyIsADrain() async throws {
        try await withBatonFixture { baton in
            for _ in 0..<6 {
                let server = try await baton.startServer()
                server.send(SIGTERM)
                let ended = try await server.exit()
                #expect(ended == .exited(0), "\(baton.serverLogs)")
            }
        }
    }

    @Test func aStopDuringARestartDrainSendsStoppingAndExits0() async throws {
        try await withBatonFixture({ $0.agentDelay = 2 }) { baton in
            let server = try await baton.startServer()
            try await withEventFollowers(baton.client, sessions: ["s"]) { logs in
                try await logs["s"]!.waitUntilOpen()
                let slow = try await baton.client.send(session: "s", text: "in flight through a restart and a stop")
                server.send(SIGUSR1)
                try await server.drainStarted()
                #expect(server.notifications.received.allSatisfy { $0["STOPPING"] == nil })
                server.send(SIGTERM)
                let stopping = try await server.notifications.wait(for: "STOPPING", value: "1", timeout: .seconds(10))
                #expect(stopping["STATUS"]?.contains("for stop") == true, "\(stopping)")
                let ended = try await server.exit()
                #expect(ended == .exited(0), "stop wins over restart: \(baton.serverLogs)")
                let events = logs["s"]!.events
                #expect(try #require(events.firstReply(to: slow.id)) < events.firstGoodbye ?? -1)
            }
        }
    }

    @Test func aSecondSigtermInterruptsAtOnceAndTheNextProcessAnswers() async throws {
        // The turn would take 60 s and the drain may wait 60 s: only the interrupt ends it sooner.
        try await withBatonFixture({ $0.agentDelay = 60; $0.drainTimeout = 60 }) { baton in
            let client = baton.client
            let server = try await baton.startServer()
            try await withEventFollowers(client, sessions: ["s"]) { logs in
                let log = logs["s"]!
                try await log.waitUntilOpen()
                let slow = try await client.send(session: "s", text: "interrupt me")
                server.send(SIGTERM)
                try await server.drainStarted()
                server.send(SIGTERM)
                let serverEnded = try await server.exit(within: .seconds(20))
                #expect(serverEnded == .exited(0), "\(baton.serverLogs)")

                let events = log.events
                let interrupted = try #require(events.firstNotice("interrupted", about: slow.id), "\(events)")
                #expect(interrupted < events.firstGoodbye!)
                let said = events[interrupted].payload?.text ?? ""
                #expect(said.contains("stopping") && !said.contains("restarting"), "a stop, not a restart: \(said)")
                #expect(events.firstReply(to: slow.id) == nil)

                // Marked interrupted on disk: the next process runs the turn again.
                let next = try await baton.startServer(environment: ["BATON_AGENT_DELAY": "0.1"])
                let after = try await log.waitForReplies(to: [slow])
                #expect(after.firstNotice("restarted")! < after.firstReply(to: slow.id)!)
                #expect(after.replyTargets == [slow.id])
                #expect(after.idsStrictlyIncrease)
                next.send(SIGTERM)
                let nextEnded = try await next.exit()
                #expect(nextEnded == .exited(0), "\(baton.serverLogs)")
            }
        }
    }
}
