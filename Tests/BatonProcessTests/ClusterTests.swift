import BatonTestSupport
import Foundation
import Glibc
import Testing

/// Several real `baton` processes on one PostgreSQL database (`scripts/postgres.sh`):
/// any process takes any message and serves any session's events; a draining process
/// hands its queued sessions to a peer; a killed process's turn is run again by a peer
/// once its lease runs out; an outage of the database is refused cleanly and outlived.
@Suite("Several processes on PostgreSQL", .serialized, .enabled(if: PostgresTestServer.isAvailable, "needs scripts/postgres.sh up"))
struct ClusterTests {
    static let agent = (BatonBinary.repositoryRoot as NSString).appendingPathComponent("examples/test-agents/exec-test-agent.py")

    @Test("Baton creates its schema, and refuses one newer than it understands with exit 78")
    func newerSchemaIsRefused() async throws {
        try await withBatonCluster(1) { cluster in
            let server = try await cluster[0].startServer()
            server.send(SIGTERM)
            _ = try await server.exit()
            let database = cluster.database
            #expect(try await PostgresTestServer.psql(database, "SELECT version FROM baton_schema").trimmingCharacters(in: .whitespacesAndNewlines) == "6")
            try await PostgresTestServer.psql(database, "UPDATE baton_schema SET version = 99")
            let refused = try await cluster[0].baton("serve")
            #expect(refused.termination == .exited(78), "\(refused)")
            #expect(refused.errors.contains("schema is version 99, newer than this Baton understands"), "\(refused.errors)")
        }
    }

    @Test("A message posted to one process is answered on another's stream, event ids unique and growing")
    func postedToOneAnsweredOnAnother() async throws {
        try await withBatonCluster(2) { cluster in
            _ = try await cluster[0].startServer()
            _ = try await cluster[1].startServer()
            try await withEventFollowers(cluster[1].client, sessions: ["shared"]) { logs in
                try await logs["shared"]!.waitUntilOpen()
                var sent: [SentMessage] = []
                for round in 0..<6 {
                    sent.append(try await cluster[round % 2].client.send(session: "shared", text: "hello \(round)"))
                }
                let events = try await logs["shared"]!.waitForReplies(to: sent)
                #expect(events.idsStrictlyIncrease, "\(events)")
                #expect(events.answeredMessages == sent.map(\.id), "answered once each, in the order posted")
            }
            let status = try await cluster[0].client.request("GET", "/v1/status")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(status.body)) as? [String: Any])
            let processes = (body["cluster"] as? [String: Any])?["processes"] as? [[String: Any]]
            #expect(processes?.count == 2, "both processes are shown: \(status.text)")
        }
    }

    @Test("One id posted to two processes at once (a client's retry through a load balancer) is stored once, both answered 202")
    func sameIDOnTwoProcessesIsStoredOnce() async throws {
        try await withBatonCluster(2) { cluster in
            _ = try await cluster[0].startServer()
            _ = try await cluster[1].startServer()
            for round in 0..<10 {
                let id = "twice-\(round)"
                async let first = cluster[0].client.post(session: "dup", text: "hello \(round)", id: id)
                async let second = cluster[1].client.post(session: "dup", text: "hello \(round)", id: id)
                let answers = try await [first, second]
                #expect(answers.map(\.status) == [202, 202], "round \(round): \(answers.map(\.text))")
            }
            let ids = (0..<10).map { "twice-\($0)" }
            let events = try await cluster[1].client.events(session: "dup", timeout: .seconds(30)) { Set($0.replyTargets).isSuperset(of: ids) }
            #expect(events.replyTargets == ids, "each message answered once, in order")
        }
    }

    @Test("A draining process lets its queued sessions go at once: a peer answers them before it comes back")
    func drainHandsQueuedSessionsToAPeer() async throws {
        try await withBatonCluster(2, lease: 60, { $0.agentDelay = 2; $0.drainTimeout = 30 }) { cluster in
            // Debug logs say who took and let go of which lease, should this fail.
            let first = try await cluster[0].startServer(environment: ["BATON_LOG_LEVEL": "debug"])
            var sent: [SentMessage] = []
            // Accepted (and so run) by the first process: one running turn, three queued behind it.
            for round in 0..<4 { sent.append(try await cluster[0].client.send(session: "queue", text: "m\(round)")) }
            let second = try await cluster[1].startServer(environment: ["BATON_LOG_LEVEL": "debug"])
            _ = second
            first.send(SIGUSR1)
            #expect(try await first.exit(within: .seconds(60)) == .exited(75))
            // The leases last 60 s: only a prompt release lets the peer answer these within 30 s.
            let ids = sent.map(\.id)
            let events = try await cluster[1].client.events(session: "queue", timeout: .seconds(30)) { events in
                Set(events.replyTargets).isSuperset(of: ids)
            }
            #expect(events.answeredMessages == sent.map(\.id))
        }
    }

    @Test("SIGKILL of the process running a turn: a peer runs it again after the lease, every reply once")
    func killedTurnIsRunAgainByAPeer() async throws {
        try await withBatonCluster(3, lease: 2, { $0.agentCommand = [Self.agent] }) { cluster in
            let victim = try await cluster[0].startServer()
            _ = try await cluster[1].startServer()
            _ = try await cluster[2].startServer()
            var sent: [SentMessage] = []
            for session in ["k1", "k2", "k3"] {
                sent.append(try await cluster[0].client.send(session: session, text: "stream 4 400"))
            }
            sent.append(try await cluster[0].client.send(session: "k1", text: "stream 4 10"))
            // Killed once some replies are out.
            _ = try await cluster[1].client.events(session: "k1") { $0.contains(where: \.isReply) }
            victim.send(SIGKILL)
            #expect(try await victim.exit(within: .seconds(30)) == .signalled(SIGKILL))
            for session in ["k1", "k2", "k3"] {
                let messages = sent.filter { $0.session == session }
                let expected = messages.flatMap { message in (1...4).map { "\(message.id).\($0)" } }
                _ = try await cluster[2].client.events(session: session, timeout: .seconds(60)) { events in
                    Set(events.filter(\.isReply).compactMap { $0.payload?.id }).isSuperset(of: expected)
                }
                let replies = try await cluster[1].client.allEvents(session: session).filter(\.isReply)
                #expect(replies.compactMap { $0.payload?.id } == expected, "session \(session): each reply once, in order")
            }
            let metrics = try await cluster[1].client.request("GET", "/metrics").text + (try await cluster[2].client.request("GET", "/metrics").text)
            #expect(metrics.contains("baton_leases_taken_over_total"))
        }
    }

    @Test("A process frozen longer than its lease (SIGSTOP) is fenced out: a peer runs its turn again, its late replies are refused")
    func frozenProcessIsFencedOut() async throws {
        try await withBatonCluster(2, lease: 2, { $0.agentCommand = [Self.agent] }) { cluster in
            let servers = [try await cluster[0].startServer(), try await cluster[1].startServer()]
            let sent = try await cluster[0].client.send(session: "f", text: "stream 3 1500")
            let expected = (1...3).map { "\(sent.id).\($0)" }
            // Whichever process took the session runs the turn (the one that accepted the
            // message, or its peer, told by NOTIFY): that one is frozen once its first reply
            // is out, while its agent goes on writing the other two.
            _ = try await cluster[0].client.events(session: "f") { $0.contains(where: \.isReply) }
            let runner = try await eventually("the process running the turn", timeout: .seconds(30)) {
                for index in 0..<2 where try await cluster[index].client.status().inFlight == 1 { return index }
                return nil
            }
            let peer = 1 - runner
            servers[runner].send(SIGSTOP)
            _ = try await cluster[peer].client.events(session: "f", timeout: .seconds(60)) { events in
                Set(events.filter(\.isReply).compactMap { $0.payload?.id }).isSuperset(of: expected)
            }
            servers[runner].send(SIGCONT)
            // Thawed, it finishes its own run of the turn; a message it takes afterwards
            // commits after that turn's writes, so once it is answered they were tried.
            _ = try await eventually("the thawed process to end its turn", timeout: .seconds(60)) {
                try await cluster[runner].client.status().inFlight == 0 ? true : nil
            }
            let later = try await cluster[runner].client.send(session: "after-thaw", text: "stream 1 10")
            _ = try await cluster[runner].client.events(session: "after-thaw", timeout: .seconds(30)) { $0.replyTargets.contains(later.id) }
            let replies = try await cluster[peer].client.allEvents(session: "f").filter(\.isReply)
            #expect(replies.compactMap { $0.payload?.id } == expected, "each reply once, in order: \(replies)")
            let logs = cluster[runner].serverLogs
            #expect(logs.contains("is another process"), "the thawed process says its writes were refused")
        }
    }

    @Test("PostgreSQL out of reach at the start is waited for, systemd told why, and the process serves once it is back")
    func aDatabaseDownAtTheStartIsWaitedFor() async throws {
        try await withBatonCluster(1, { $0.agentDelay = 0.1 }) { cluster in
            let baton = cluster[0]
            let server = try await PostgresTestServer.whileStopped {
                let server = try await baton.startServer(waitUntilReady: false)
                let waiting = try await server.notifications.wait(for: "systemd told of the wait") {
                    $0["STATUS"]?.hasPrefix("Waiting for PostgreSQL") == true && $0["EXTEND_TIMEOUT_USEC"] != nil
                }
                #expect(waiting["STATUS"]?.contains("cannot connect") == true, "\(waiting)")
                #expect(server.notifications.received.allSatisfy { $0["READY"] == nil })
                return server
            }
            try await server.notifications.wait(for: "READY", value: "1", timeout: .seconds(60))
            let sent = try await baton.client.send(session: "w", text: "after the wait")
            _ = try await baton.client.events(session: "w") { $0.firstReply(to: sent.id) != nil }
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0), "\(baton.serverLogs)")
            #expect(baton.serverLogs.contains("PostgreSQL out of reach at the start"))
        }
    }

    @Test("PostgreSQL stopped mid-traffic: POSTs get a clear 503, readiness drops, service resumes by itself")
    func outageIsRefusedAndOutlived() async throws {
        try await withBatonCluster(2, { $0.agentDelay = 0.1 }) { cluster in
            _ = try await cluster[0].startServer()
            _ = try await cluster[1].startServer()
            var acknowledged: [SentMessage] = []
            for round in 0..<4 { acknowledged.append(try await cluster[round % 2].client.send(session: "o\(round % 2)", text: "before \(round)")) }
            try await PostgresTestServer.whileStopped {
                let refused = try await cluster[0].client.post(session: "o0", text: "during")
                #expect(refused.status == 503, "\(refused.status) \(refused.text)")
                // A commit the pool could not hand to the database in time: whether it was
                // made is not known, and the answer says so.
                #expect(refused.text.contains("did not answer within") && refused.text.contains("may have been stored"), "\(refused.text)")
                try await withTimeout(.seconds(30), waitingFor: "/readyz to say 503") {
                    while try await cluster[1].client.request("GET", "/readyz").status != 503 {
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
            let after = try await withTimeout(.seconds(60), waitingFor: "a POST to be taken again") {
                while true {
                    let response = try await cluster[0].client.post(session: "o0", text: "after")
                    if response.status == 202, let ack = try? response.decode(MessageAcknowledgement.self) {
                        return SentMessage(text: "after", acknowledgement: ack, instance: response.instance)
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            acknowledged.append(after)
            try await withTimeout(.seconds(30), waitingFor: "/readyz to say 200 again") {
                while try await cluster[1].client.request("GET", "/readyz").status != 200 {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            acknowledged.append(try await cluster[1].client.send(session: "o1", text: "after on the other"))
            for session in ["o0", "o1"] {
                let mine = acknowledged.filter { $0.session == session }.map(\.id)
                _ = try await cluster[0].client.events(session: session, timeout: .seconds(30)) { Set($0.replyTargets).isSuperset(of: mine) }
                let events = try await cluster[1].client.allEvents(session: session)
                #expect(Set(events.replyTargets) == Set(mine), "session \(session): every acknowledged message answered")
                #expect(events.replyTargets.sorted() == mine.sorted(), "session \(session): answered once each")
            }
        }
    }
}
