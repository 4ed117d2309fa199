import BatonTestSupport
import Foundation
import Testing

extension SystemdTests {
    /// Clients post without pause across several `reload-or-restart`s: the listening socket
    /// stays with systemd, so no connection is refused and every `202` gets its reply.
    @Test func restartsRefuseNoConnectionAndLoseNoMessage() async throws {
        try await withBatonUnit({ $0.agentDelay = 0.02; $0.drainTimeout = 5 }) { unit in
            let manager = unit.manager, client = unit.client, port = unit.configuration.port
            try await manager.systemctl("start", BatonUnit.service)
            let socket = try #require(LocalPort.listenerInode(port: port))
            let first = try await client.status().instance
            let sessions = (0..<4).map { "handoff-\($0)" }
            let restarts = 3

            try await withEventFollowers(client, sessions: sessions) { logs in
                // Instances in the order their answers were first seen.
                let instances = ObservedState([first])
                let failures = ObservedState<[String]>([])
                let done = ObservedState(false)
                let sent = try await withThrowingTaskGroup(of: (String, [SentMessage]).self) { group in
                    for session in sessions {
                        group.addTask {
                            try await Self.postUntilDone(
                                session: session, client: client, log: logs[session]!, done: done, instances: instances,
                                failures: failures)
                        }
                    }
                    for round in 1...restarts {
                        try await manager.systemctl("reload-or-restart", BatonUnit.service)
                        try await withTimeout(.seconds(60), waitingFor: "instance \(round + 1) to answer a post") {
                            try await instances.wait { $0.count > round ? true : nil }
                        }
                    }
                    done.update { $0 = true }
                    var sent: [String: [SentMessage]] = [:]
                    for try await (session, messages) in group { sent[session] = messages }
                    return sent
                }

                #expect(failures.value.isEmpty, "refused or failed posts: \(failures.value)")
                // Each process drained and exited 75; none went down another way.
                expectCleanExits(unit)
                #expect(instances.value.count == restarts + 1)
                for session in sessions {
                    let messages = sent[session] ?? []
                    let events = try await logs[session]!.waitForReplies(to: messages, timeout: .seconds(60))
                    #expect(events.replyTargets == messages.map(\.id), "session \(session): each message answered once, in order")
                }
                #expect(try await unit.restarts() == restarts)
                let state = try await manager.show(BatonUnit.service, ["NFileDescriptorStore", "ActiveState"])
                #expect(state["NFileDescriptorStore"] == "1", "one socket in the store, passed on each time: \(state)")
                #expect(LocalPort.listenerInode(port: port) == socket, "the very socket bound first still listens")
                try await expectResumedStreamsAreExact(client, logs: Array(logs.values))
            }
        }
    }

    /// Posts to `session` until `done`, keeping at most 8 messages unanswered so the queue
    /// stays short while the posting never pauses for a restart.
    static func postUntilDone(
        session: String, client: BatonHTTPClient, log: EventLog, done: ObservedState<Bool>, instances: ObservedState<[String]>,
        failures: ObservedState<[String]>
    ) async throws -> (String, [SentMessage]) {
        var messages: [SentMessage] = []
        var failed = 0
        while !done.value, messages.count < 1000, failed < 20 {
            if messages.count >= 8 {
                try await log.waitForReplies(to: [messages[messages.count - 8]], timeout: .seconds(60))
            }
            let text = "message \(messages.count) to \(session)"
            do {
                let body = try JSONSerialization.data(withJSONObject: ["session": session, "user": "bob", "text": text])
                let response = try await OneShotHTTP.post(port: client.port, path: "/v1/messages", json: Array(body))
                guard response.status == 202, let acknowledgement = try? response.decode(MessageAcknowledgement.self) else {
                    failed += 1
                    failures.update { $0.append("\(session): \(response.status) \(response.text)") }
                    continue
                }
                messages.append(SentMessage(text: text, acknowledgement: acknowledgement, instance: response.instance))
                if let instance = response.instance {
                    instances.update { if !$0.contains(instance) { $0.append(instance) } }
                }
            } catch {
                failed += 1
                failures.update { $0.append("\(session): \(error)") }
            }
        }
        return (session, messages)
    }

    /// SIGKILL while a turn runs, while messages wait, and during a drain: `Restart=on-failure`
    /// relaunches, and the next process answers every message that got a `202`, once each,
    /// in order, with no event id used twice.
    @Test func sigkillAtAnyPointLosesNoAcknowledgedMessage() async throws {
        try await withBatonUnit({ $0.agentDelay = 1.5; $0.drainTimeout = 20 }) { unit in
            let manager = unit.manager, client = unit.client
            try await manager.systemctl("start", BatonUnit.service)
            let sessions = ["killed-mid-turn", "killed-with-a-queue", "killed-mid-drain"]
            try await withEventFollowers(client, sessions: sessions) { logs in
                var instance = try await client.status().instance

                let running = try await client.send(session: sessions[0], text: "running when killed")
                #expect(running.acknowledgement.status == "accepted")
                instance = try await unit.killMainProcess(replacing: instance)

                var queue: [SentMessage] = []
                for index in 0..<3 {
                    queue.append(try await client.send(session: sessions[1], text: "queued \(index) when killed"))
                }
                #expect(queue.map(\.acknowledgement.status) == ["accepted", "queued", "queued"])
                instance = try await unit.killMainProcess(replacing: instance)

                let inDrain = try await client.send(session: sessions[2], text: "running when the drain began")
                try await manager.systemctl("--no-block", "reload-or-restart", BatonUnit.service)
                try await eventually("the drain to begin", timeout: .seconds(10)) {
                    try await client.status().state == "draining" ? true : nil
                }
                let late = try await client.send(session: sessions[2], text: "queued during the drain")
                #expect(late.acknowledgement.status == "queued")
                instance = try await unit.killMainProcess(replacing: instance)

                let expected = [sessions[0]: [running], sessions[1]: queue, sessions[2]: [inDrain, late]]
                for (session, messages) in expected {
                    let events = try await logs[session]!.waitForReplies(to: messages, timeout: .seconds(60))
                    #expect(events.replyTargets == messages.map(\.id), "session \(session): each message answered once, in order")
                    #expect(events.firstNotice("restarted") != nil, "session \(session) was told of the recovery")
                }
                let restarts = try await unit.restarts()
                let status = try await manager.systemctl(["status", BatonUnit.service], check: false).output
                #expect(restarts == 3, "\(status)\n\(manager.diagnostics)")
                try await expectResumedStreamsAreExact(client, logs: Array(logs.values))
                expectCleanExits(unit)
            }
        }
    }

    /// `units/baton.socket` holds the port before Baton runs: the first connection starts
    /// the service, which serves the socket it was passed (not its own `listen`), and keeps
    /// serving it across a restart.
    @Test func socketActivationStartsTheServiceOnTheFirstConnection() async throws {
        let configuredPort = try LocalPort.free()
        try await withBatonUnit(socketActivated: true, { $0.listen = "127.0.0.1:\(configuredPort)"; $0.agentDelay = 0.5 }) { unit in
            let manager = unit.manager, client = unit.client, port = unit.configuration.port
            try await manager.systemctl("start", BatonUnit.socket)
            #expect(try await manager.property(BatonUnit.service, "ActiveState") == "inactive")
            let socket = try #require(LocalPort.listenerInode(port: port), "baton.socket listens")

            let wakeUp = try await client.send(session: "activated", text: "the first connection starts Baton")
            let before = try await client.status()
            #expect(try await manager.property(BatonUnit.service, "ActiveState") == "active")
            #expect(LocalPort.listenerInode(port: port) == socket)
            #expect(LocalPort.listenerInode(port: configuredPort) == nil, "a socket from systemd wins over listen")

            try await withEventFollowers(client, sessions: ["activated"]) { logs in
                try await manager.systemctl("reload-or-restart", BatonUnit.service)
                let after = try await eventually("the next process", timeout: .seconds(30)) {
                    let status = try await client.status()
                    return status.instance != before.instance && status.state == "ready" ? status : nil
                }
                let second = try await client.send(session: "activated", text: "after the restart")
                #expect(second.instance == after.instance)
                let events = try await logs["activated"]!.waitForReplies(to: [wakeUp, second])
                #expect(events.replyTargets == [wakeUp.id, second.id])
                // No NRestarts check: after exit 75 either Restart= or the socket's waiting
                // connections may start the next process first; both serve the same socket.
                #expect(LocalPort.listenerInode(port: port) == socket)
                expectCleanExits(unit)
            }
        }
    }

    /// A socket unit with two `ListenStream=` (IPv4 and IPv6, say) passes two sockets named
    /// `http`: both are served, and both are the next process's after a restart.
    @Test func everySocketOfTheSocketUnitIsServedAcrossARestart() async throws {
        let secondPort = try LocalPort.free()
        try await withBatonUnit(socketActivated: true, { $0.agentDelay = 0.2 }) { unit in
            let manager = unit.manager, client = unit.client, port = unit.configuration.port
            try manager.installDropIn(for: BatonUnit.socket, named: "zz-second", contents: "[Socket]\nListenStream=127.0.0.1:\(secondPort)\n")
            try await manager.systemctl("daemon-reload")
            try await manager.systemctl("start", BatonUnit.socket)
            let sockets = [LocalPort.listenerInode(port: port), LocalPort.listenerInode(port: secondPort)]
            let other = BatonHTTPClient(port: secondPort)
            defer { Task { try? await other.shutdown() } }

            let first = try await client.send(session: "one", text: "on the first socket")
            let second = try await other.send(session: "two", text: "on the second socket")
            let before = try await other.status()
            #expect(second.instance == before.instance)
            try await manager.systemctl("reload-or-restart", BatonUnit.service)
            let after = try await eventually("the next process", timeout: .seconds(30)) {
                let status = try await other.status()
                return status.instance != before.instance && status.state == "ready" ? status : nil
            }
            let third = try await other.send(session: "two", text: "after the restart, on the second socket")
            let fourth = try await client.send(session: "one", text: "after the restart, on the first socket")
            #expect(third.instance == after.instance && fourth.instance == after.instance)
            _ = try await other.events(session: "two") { $0.firstReply(to: second.id) != nil && $0.firstReply(to: third.id) != nil }
            _ = try await client.events(session: "one") { $0.firstReply(to: first.id) != nil && $0.firstReply(to: fourth.id) != nil }
            #expect([LocalPort.listenerInode(port: port), LocalPort.listenerInode(port: secondPort)] == sockets)
            expectCleanExits(unit)
        }
    }
}
