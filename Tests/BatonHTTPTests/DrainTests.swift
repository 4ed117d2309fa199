import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// Drains and restarts, in-process: a second application on the same state directory is
/// the next process.
@Suite struct DrainTests {
    @Test("A stop asked for after a restart drain finished, before the process exited, wins: the process stops")
    func aStopAfterTheRestartDrainFinishedWins() async throws {
        let exit = try await InProcessBaton().run { app, _ in
            #expect(try await app.gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal) == 0)
            #expect(await app.gateway.status().state == .stopping, "nothing in flight: the drain is over")
            try await app.gateway.requestDrain(.stop, immediate: false, origin: .control)
        }
        #expect(exit == .stopped)
    }

    @Test("/restart posted again with its id (its answer lost) does not restart the next process")
    func restartPostedAgainWithItsIDRestartsOnce() async throws {
        let baton = InProcessBaton()
        let first = try await baton.run { _, client in
            let restart = try await client.post(session: "ops", user: "alice", text: "/restart", id: "restart-1")
            #expect(restart.status == 202 && restart.json["status"] as? String == "restarting")
        }
        #expect(first == .restart)
        let next = try await baton.run { _, client in
            let again = try await client.post(session: "ops", user: "alice", text: "/restart", id: "restart-1")
            #expect(again.status == 202 && again.json["status"] as? String == "restarting", "answered as the first time")
            #expect(try await client.status().state == "ready", "and not restarting")
            #expect(try await client.request("GET", "/readyz").status == 200)
        }
        #expect(next == .stopped)
    }

    @Test func restartDrainsTheTurnQueuesNewInputAndTheNextProcessAnswersIt() async throws {
        let baton = InProcessBaton()
        let agent = GatedAgent()
        let sent = Sent()
        let exit = try await baton.run(agent: agent) { app, client in
            let running = try await client.send(session: "busy", text: "in flight")
            await agent.waitUntilStarted("in flight")

            let forbidden = try await client.post(session: "busy", user: "mallory", text: "/restart")
            #expect(forbidden.status == 403)
            #expect(forbidden.errorMessage?.contains("mallory is not in admins") == true)

            let restart = try await client.post(session: "ops", user: "alice", text: "/restart")
            #expect(restart.status == 202)
            #expect(restart.json["status"] as? String == "restarting" && restart.json["in_flight"] as? Int == 1)
            #expect(try await client.request("GET", "/readyz").status == 503)
            #expect(try await client.request("GET", "/healthz").status == 200)
            #expect(try await client.status().state == "draining")

            let queuedBusy = try await client.send(session: "busy", text: "after the restart")
            let queuedIdle = try await client.send(session: "idle", text: "also after")
            #expect(queuedBusy.acknowledgement.status == "queued" && queuedIdle.acknowledgement.status == "queued")
            sent.set(running: running, queued: [queuedBusy, queuedIdle])

            // Once the stream is open (it has the draining notice), the turn may end; the
            // stream then sees the turn's reply, then goodbye.
            let events = try await client.events(session: "busy") { events in
                if events.contains(where: { $0.isNotice("draining") }) { agent.release("in flight") }
                return events.contains(where: \.isGoodbye)
            }
            #expect(events.contains { $0.isReply && $0.payload?.inReplyTo == running.id })
            let goodbye = try #require(events.last)
            #expect(goodbye.isGoodbye && goodbye.id == nil)
            #expect(goodbye.payload?.reason == "restart" && goodbye.payload?.instance == app.gateway.instance)
        }
        #expect(exit == .restart)

        // The next process answers what was queued, after telling the sessions.
        let next = GatedAgent()
        next.releaseAll()
        try await baton.run(agent: next) { app, client in
            #expect(await app.gateway.recoveredTurns == 0)
            for message in sent.queued {
                let events = try await client.events(session: message.session) { events in
                    events.contains { $0.payload?.inReplyTo == message.id }
                }
                #expect(events.contains { $0.isNotice("restarted") })
                let ids = events.compactMap(\.id)
                #expect(ids == Array(1...Int64(ids.count)), "event ids grow by one across the restart")
            }
            let busy = try await client.allEvents(session: "busy")
            #expect(busy.filter { $0.isReply && $0.payload?.inReplyTo == sent.running?.id }.count == 1)
        }
    }

    /// Once a drain begins, a kept-alive connection gets `Connection: close` on its next
    /// response and is closed after it, so its client's next request goes out on a new
    /// connection (the next process's) instead of racing this one's close.
    @Test func onceDrainingEachResponseClosesItsConnection() async throws {
        let agent = GatedAgent()
        let exit = try await InProcessBaton().run(agent: agent) { app, client in
            let port = try #require(app.httpSocket.port)
            _ = try await client.send(session: "busy", text: "in flight")
            await agent.waitUntilStarted("in flight")
            try await withTimeout(.seconds(30), waitingFor: "answers on one kept-alive connection") {
                let connection = try await KeptAliveConnection.open(port: port)
                try await connection.use { reader in
                    for text in ["first", "second"] {
                        let serving = try await reader.post(session: "kept", text: text)
                        #expect(serving.status == 202 && serving.headers["connection"] == nil, "\(serving)")
                    }
                    try await app.gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal)
                    let draining = try await reader.post(session: "kept", text: "third")
                    #expect(draining.status == 202, "\(draining)")
                    #expect(draining.headers["connection"] == "close")
                    #expect(draining.body.contains("queued"))
                    #expect(try await reader.serverCloses())
                }
            }
            agent.releaseAll()
        }
        #expect(exit == .restart)
    }

    @Test("Draining, a message pipelined behind another request: the connection ends after that request's answer, and the message is not stored")
    func aMessagePipelinedBehindAnotherRequestInADrainIsNotStored() async throws {
        let agent = GatedAgent()
        let exit = try await InProcessBaton().run(agent: agent) { app, client in
            let port = try #require(app.httpSocket.port)
            _ = try await client.send(session: "busy", text: "in flight")
            await agent.waitUntilStarted("in flight")
            try await app.gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal)
            let body = #"{"session":"piped","user":"bob","text":"behind the status"}"#
            let requests =
                "GET /v1/sessions/piped HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                + "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let outcome = try await RawHTTPExchange(pieces: [Array(requests.utf8)]).run(port: port)
            // The client sees one answer and the end of the connection: it sends the
            // message again elsewhere, so it must not have been stored here.
            #expect(outcome.statuses == [200], "\(outcome.head)")
            #expect(try await app.store.messageCount() == 1)
            agent.releaseAll()
        }
        #expect(exit == .restart)
    }

    @Test func restartNowInterruptsAndTheNextProcessRunsTheTurnAgain() async throws {
        let baton = InProcessBaton()
        let agent = GatedAgent()
        let exit = try await baton.run(agent: agent) { _, client in
            _ = try await client.send(session: "s", text: "long")
            await agent.waitUntilStarted("long")
            let events = try await client.eventsUntilGoodbye(session: "s") {
                let restart = try await client.post(session: "ops", user: "alice", text: "/restart now")
                #expect(restart.status == 202)
            }
            #expect(events.contains { $0.isNotice("interrupted") })
            #expect(!events.contains { $0.isReply })
        }
        #expect(exit == .restart)

        let next = GatedAgent()
        next.releaseAll()
        try await baton.run(agent: next) { app, client in
            #expect(await app.gateway.recoveredTurns == 1)
            let events = try await client.events(session: "s") { $0.contains(where: \.isReply) }
            #expect(events.first(where: \.isReply)?.payload?.text == "answer to long")
        }
    }

    @Test func theDeadlineInterruptsTurnsThatRunTooLong() async throws {
        let baton = InProcessBaton { $0.drain.timeout = 0.2 }
        let agent = GatedAgent()
        let exit = try await baton.run(agent: agent) { app, client in
            let message = try await client.send(session: "s", text: "never finishes")
            await agent.waitUntilStarted("never finishes")
            let events = try await client.eventsUntilGoodbye(session: "s") {
                try await app.gateway.requestDrain(.stop, immediate: false, origin: .control)
            }
            #expect(events.contains { $0.isNotice("interrupted") && $0.payload?.message == message.id })
            #expect(events.last?.payload?.reason == "stop")
        }
        #expect(exit == .stopped)
        #expect(try SQLiteStore(directory: baton.stateDirectory).pendingMessages().map(\.state) == [.interrupted])
    }

    @Test func stopWinsOverRestartAndTheSecondTerminationSignalInterrupts() async throws {
        let agent = GatedAgent()
        let exit = try await InProcessBaton().run(agent: agent) { app, client in
            _ = try await client.send(session: "s", text: "slow")
            await agent.waitUntilStarted("slow")
            let events = try await client.eventsUntilGoodbye(session: "s") {
                try await app.gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal)
                try await app.gateway.requestDrain(.stop, immediate: false, origin: .terminationSignal)
                let status = try await client.status()
                #expect(status.state == "draining")
                try await app.gateway.requestDrain(.stop, immediate: false, origin: .terminationSignal)
            }
            #expect(events.contains { $0.isNotice("interrupted") })
        }
        #expect(exit == .stopped)
    }

    @Test func theControlAPIReportsStatusAndTakesDrainRequests() async throws {
        try await InProcessBaton().run { app, client in
            let control = ControlClient(socketPath: app.controlSocketPath)
            let status = try control.status()
            #expect(status.instance == app.gateway.instance && status.state == .ready && status.supervisor == nil)
            let attributes = try FileManager.default.attributesOfItem(atPath: app.controlSocketPath)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let draining = try control.requestDrain(.stop, now: false)
            #expect(draining.state == .stopping)
        }
    }
}

/// What the first process of a restart test sent, for the second to check.
private final class Sent: Sendable {
    private let state = ObservedState<(running: SentMessage?, queued: [SentMessage])>((nil, []))
    func set(running: SentMessage, queued: [SentMessage]) { state.update { $0 = (running, queued) } }
    var running: SentMessage? { state.value.running }
    var queued: [SentMessage] { state.value.queued }
}
