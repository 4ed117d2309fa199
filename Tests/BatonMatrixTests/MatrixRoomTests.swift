import BatonTestSupport
import Foundation
import Glibc
import Testing

/// The real `baton` binary as a bot on a real Synapse: people talk to it in a room.
@Suite("Matrix rooms against a real Synapse", .serialized)
struct MatrixRoomTests {
    @Test("A person's message is answered in the room, as a reply to it, once")
    func replyInRoom() async throws {
        try await withMatrixConversation { chat in
            let message = try await chat.bob.send("hello", to: chat.room)
            let replies = try await chat.waitForReplies(to: [message])
            let reply = try #require(replies.first { $0.sender == chat.bot.userID && $0.inReplyTo == message })
            #expect(reply.body == "Demo agent heard \(chat.bob.userID): hello")
            #expect(try await chat.replyCounts() == [message: 1])
            #expect(try await chat.adapterStatus()?.state == "connected")
        }
    }

    @Test("A message in a thread is answered in that thread, also by the next process after a SIGKILL mid-turn")
    func answeredInItsThread() async throws {
        try await withMatrixConversation(agentDelay: 1) { chat in
            let bot = chat.bot.userID
            let root = try await chat.alice.send("a topic", to: chat.room)
            let question = try await chat.bob.send("a question in the thread", to: chat.room, inThreadOf: root)
            let replies = try await chat.waitForReplies(to: [root, question])
            let rootReply = try #require(replies.first { $0.sender == bot && $0.msgtype == "m.text" && $0.inReplyTo == root })
            #expect(rootReply.threadRoot == nil, "a message in the main timeline is answered there")
            let answer = try #require(replies.first { $0.sender == bot && $0.msgtype == "m.text" && $0.inReplyTo == question })
            #expect(answer.threadRoot == root)
            #expect(answer.body == "Demo agent heard \(chat.bob.userID): a question in the thread")

            // The next process did not read this message: it finds its thread on the homeserver.
            let followUp = try await chat.bob.send("and a follow-up", to: chat.room, inThreadOf: root)
            _ = try await eventually("the follow-up's turn to start", timeout: .seconds(30)) {
                try await chat.fixture.client.status().inFlight == 1 ? true : nil
            }
            chat.server.send(SIGKILL)
            #expect(try await chat.server.exit(within: .seconds(30)) == .signalled(SIGKILL))
            _ = try await chat.fixture.startServer()
            let after = try await chat.waitForReplies(to: [followUp])
            let followUpAnswer = try #require(after.first { $0.sender == bot && $0.msgtype == "m.text" && $0.inReplyTo == followUp })
            #expect(followUpAnswer.threadRoot == root)
            #expect(try await chat.replyCounts() == [root: 1, question: 1, followUp: 1])
        }
    }

    @Test("A second Baton with a store of its own on the same account stands by: each message is answered once, and it reads on where the first stopped")
    func secondBatonStandsBy() async throws {
        try await withMatrixConversation { chat in
            let first = try await chat.bob.send("before the second Baton", to: chat.room)
            try await chat.waitForReplies(to: [first])
            try await withBatonFixture({ configuration in
                configuration.admins = [chat.alice.userID]
                configuration.agentDelay = 0.2
                configuration.extraYAML = chat.matrixYAML
            }) { second in
                _ = try await second.startServer()
                let standby = try await eventually("the second Baton to stand by", timeout: .seconds(60)) {
                    let matrix = try await second.client.status().networks?["matrix"]
                    return matrix?.state == "standby" ? matrix : nil
                }
                #expect(standby.reason?.contains("pid \(chat.server.pid)") == true, "\(standby)")
                let whileBoth = try await chat.bob.send("while both run", to: chat.room)
                try await chat.waitForReplies(to: [whileBoth])

                chat.server.send(SIGTERM)
                #expect(try await chat.server.exit(within: .seconds(30)) == .exited(0))
                // Sent before the second has taken over: it reads on from where the first stopped.
                let afterStop = try await chat.bob.send("after the first stopped", to: chat.room)
                try await chat.waitForReplies(to: [afterStop])
                #expect(try await second.client.status().networks?["matrix"]?.state == "connected")
                #expect(try await chat.replyCounts() == [first: 1, whileBoth: 1, afterStop: 1])
            }
        }
    }

    @Test("A restart keeps the account: a Baton standing by does not take it over in the gap; a claim cleared by hand is no claim")
    func restartKeepsTheAccount() async throws {
        try await withMatrixConversation { chat in
            var server = chat.server
            try await withBatonFixture({ configuration in
                configuration.agentDelay = 0.2
                configuration.extraYAML = chat.matrixYAML
            }) { second in
                _ = try await second.startServer()
                _ = try await eventually("the second Baton to stand by", timeout: .seconds(60)) {
                    try await second.client.status().networks?["matrix"]?.state == "standby" ? true : nil
                }
                server.send(SIGUSR1)
                #expect(try await server.exit(within: .seconds(30)) == .exited(75))
                // Longer than the standby waits between looks: it has had its chance to take over.
                try await Task.sleep(for: .seconds(6))
                #expect(try await second.client.status().networks?["matrix"]?.state == "standby")
                server = try await chat.fixture.startServer()
                let message = try await chat.bob.send("after the restart", to: chat.room)
                try await chat.waitForReplies(to: [message])
                #expect(try await chat.replyCounts()[message] == 1)
                #expect(try await second.client.status().networks?["matrix"]?.state == "standby")
            }
            server.send(SIGTERM)
            #expect(try await server.exit(within: .seconds(30)) == .exited(0))
            try await chat.bot.setAccountData("org.baton.claim", [:])
            server = try await chat.fixture.startServer()
            let message = try await chat.bob.send("after the claim was cleared", to: chat.room)
            try await chat.waitForReplies(to: [message])
            #expect(try await chat.fixture.client.status().networks?["matrix"]?.state == "connected")
        }
    }

    @Test("The bot shows it is typing while a message's turn runs, and stops once the reply is sent")
    func typingWhileATurnRuns() async throws {
        try await withMatrixConversation(agentDelay: 3) { chat in
            let message = try await chat.bob.send("take your time", to: chat.room)
            _ = try await eventually("the bot typing", timeout: .seconds(30), interval: .milliseconds(200)) {
                try await chat.bob.typingUsers(in: chat.room).contains(chat.bot.userID) ? true : nil
            }
            try await chat.waitForReplies(to: [message])
            // Well within the 30 s the homeserver keeps an indicator nobody clears.
            _ = try await eventually("the bot no longer typing", timeout: .seconds(10), interval: .milliseconds(200)) {
                try await chat.bob.typingUsers(in: chat.room).contains(chat.bot.userID) ? nil : true
            }
        }
    }

    @Test("A configured room on a homeserver that cannot be reached does not keep Baton from answering the others")
    func anUnreachableRoomDoesNotHoldTheOthers() async throws {
        // Federation allowed with a server that does not exist: joining its room fails
        // with an error worth trying again (502), not a refusal.
        try await withMatrixConversation(
            rooms: ["#elsewhere:unreachable.invalid"], synapseConfiguration: "federation_domain_whitelist: [unreachable.invalid]\n"
        ) { chat in
            let message = try await chat.bob.send("hello", to: chat.room)
            try await chat.waitForReplies(to: [message])
            #expect(try await chat.replyCounts() == [message: 1])
        }
    }

    @Test("A room message over limits.max_message_bytes gets an error notice, once, and no turn; a short one is answered")
    func anOversizedMessageIsRefused() async throws {
        try await withMatrixConversation(maxMessageBytes: 1024) { chat in
            let long = try await chat.bob.send(String(repeating: "long ", count: 400), to: chat.room)
            let refusal = try await chat.waitForNotice(containing: "limits.max_message_bytes")
            #expect(refusal.inReplyTo == long, "the notice answers the message it refuses")
            let short = try await chat.bob.send("short", to: chat.room)
            _ = try await chat.waitForReplies(to: [short])
            #expect(try await chat.replyCounts() == [short: 1])
            #expect(try await chat.fixture.client.status().inFlight == 0)
        }
    }

    @Test("busy_input: reject, a message during a stop's drain: the room is told Baton is stopping, not restarting")
    func aRefusalDuringAStopSaysStopping() async throws {
        try await withMatrixConversation(agentDelay: 30, busyInput: "reject") { chat in
            _ = try await chat.bob.send("a long turn", to: chat.room)
            _ = try await eventually("the turn running", timeout: .seconds(60), interval: .milliseconds(100)) {
                try await chat.fixture.client.status().inFlight == 1 ? true : nil
            }
            chat.server.send(SIGTERM)
            _ = try await eventually("the stop's drain", timeout: .seconds(30), interval: .milliseconds(100)) {
                try await chat.fixture.client.status().state == "draining" ? true : nil
            }
            _ = try await chat.bob.send("while stopping", to: chat.room)
            let refusal = try await chat.waitForNotice(containing: "not taking messages")
            #expect(refusal.body.contains("stopping") && !refusal.body.contains("restarting"), "\(refusal.body)")
        }
    }

    @Test("A non-admin's /restart sent while Baton was stopped gets its notice from the next process; an admin's does not restart it again")
    func restartsSentWhileStopped() async throws {
        try await withMatrixConversation { chat in
            chat.server.send(SIGTERM)
            #expect(try await chat.server.exit(within: .seconds(30)) == .exited(0))
            try await chat.alice.send("/restart", to: chat.room)
            try await chat.bob.send("/restart", to: chat.room)
            _ = try await chat.fixture.startServer()
            let refusal = try await chat.waitForNotice(containing: "Only admins may /restart")
            #expect(refusal.body.contains(chat.bob.userID))
            let answered = try await chat.bob.send("after the start", to: chat.room)
            _ = try await chat.waitForReplies(to: [answered])
            #expect(try await chat.fixture.client.status().state == "ready", "the admin's /restart, from before the start, is not acted on")
        }
    }

    @Test("/status answers with a notice; a non-admin's /restart gets a notice, not a restart")
    func commands() async throws {
        try await withMatrixConversation { chat in
            try await chat.bob.send("/status", to: chat.room)
            try await chat.waitForNotice(containing: "Ready:")
            try await chat.bob.send("/restart", to: chat.room)
            let refusal = try await chat.waitForNotice(containing: "Only admins may /restart")
            #expect(refusal.body.contains(chat.bob.userID))
            #expect(try await chat.fixture.client.status().state == "ready")
        }
    }

    @Test("/restart from an admin mid-turn: the turn finishes, a message sent in the drain is queued and answered by the next process, each once")
    func restartMidTurn() async throws {
        try await withMatrixConversation(agentDelay: 3) { chat in
            let slow = try await chat.bob.send("slow one", to: chat.room)
            _ = try await eventually("the turn to start", timeout: .seconds(30)) {
                try await chat.fixture.client.status().inFlight == 1 ? true : nil
            }
            try await chat.alice.send("/restart", to: chat.room)
            try await chat.waitForNotice(containing: "Restart requested by \(chat.alice.userID)")
            let during = try await chat.bob.send("are you there?", to: chat.room)
            try await chat.waitForNotice(containing: "queued for the next process")
            #expect(try await chat.server.exit(within: .seconds(60)) == .exited(75), "\(chat.fixture.serverLogs)")
            _ = try await chat.fixture.startServer()
            let replies = try await chat.waitForReplies(to: [slow, during])
            let order = replies.filter { $0.sender == chat.bot.userID && $0.msgtype == "m.text" }.compactMap(\.inReplyTo)
            #expect(order == [slow, during])
            #expect(try await chat.replyCounts() == [slow: 1, during: 1])
        }
    }

    @Test("A reply longer than a Matrix event holds arrives in parts, in order, the first a reply to the message")
    func longReplyArrivesInParts() async throws {
        let agent = (BatonBinary.repositoryRoot as NSString).appendingPathComponent("examples/test-agents/exec-test-agent.py")
        try await withMatrixConversation(agentCommand: ["python3", agent]) { chat in
            let message = try await chat.bob.send("long 150000", to: chat.room)
            let bot = chat.bot.userID
            let parts = try await chat.bob.waitForMessages(in: chat.room, "a reply of 150,000 characters") { seen in
                seen.filter { $0.sender == bot && $0.msgtype == "m.text" }.reduce(0) { $0 + $1.body.count } >= 150_000
            }.filter { $0.sender == bot && $0.msgtype == "m.text" }
            #expect(parts.count == 4, "48 KiB a part")
            #expect(parts.map(\.inReplyTo) == [message, nil, nil, nil])
            let text = parts.map(\.body).joined()
            #expect(text.count == 150_000 && text.hasPrefix("000000 xxx") && text.split(separator: "\n").last?.hasPrefix("001874 ") == true)
        }
    }

    @Test("Messages sent while Baton is stopped are answered when it is back, even those before a rename of the bot; the first start does not answer history")
    func answeredAfterStop() async throws {
        try await withMatrixConversation { chat in
            let first = try await chat.bob.send("before the stop", to: chat.room)
            try await chat.waitForReplies(to: [first])
            chat.server.send(SIGTERM)
            #expect(try await chat.server.exit(within: .seconds(30)) == .exited(0))
            var whileDown: [String] = []
            for number in 1...2 { whileDown.append(try await chat.bob.send("while down \(number)", to: chat.room)) }
            // A new display name puts a member event of the bot's (join to join) in the room.
            try await chat.bot.setDisplayName("Baton renamed")
            whileDown.append(try await chat.bob.send("while down 3", to: chat.room))
            _ = try await chat.fixture.startServer()
            try await chat.waitForReplies(to: whileDown)
            #expect(try await chat.replyCounts() == Dictionary(uniqueKeysWithValues: ([first] + whileDown).map { ($0, 1) }))
        }
    }

    @Test("SIGKILL at many points while turns run and replies are delivered: every message answered exactly once")
    func sigkill() async throws {
        try await withMatrixConversation(agentDelay: 0.3) { chat in
            var sent: [String] = []
            var server = chat.server
            // The kill points spread over sending, syncing, running and delivering.
            let pauses: [Duration] = [.zero, .milliseconds(150), .milliseconds(400), .milliseconds(700), .milliseconds(1200), .milliseconds(50)]
            for (round, pause) in pauses.enumerated() {
                for number in 1...2 { sent.append(try await chat.bob.send("round \(round) message \(number)", to: chat.room)) }
                try await Task.sleep(for: pause)
                server.send(SIGKILL)
                #expect(try await server.exit(within: .seconds(30)) == .signalled(SIGKILL))
                server = try await chat.fixture.startServer()
            }
            try await chat.waitForReplies(to: sent, timeout: .seconds(120))
            let counts = try await chat.replyCounts()
            #expect(counts.filter { $0.value != 1 } == [:], "answered other than once")
            #expect(Set(counts.keys) == Set(sent))
        }
    }

    @Test("Synapse stopped mid-conversation and started again: Baton backs off, catches up, nothing lost or doubled")
    func homeserverOutage() async throws {
        try await withMatrixConversation(agentDelay: 2) { chat in
            let message = try await chat.bob.send("answer me while the homeserver is away", to: chat.room)
            _ = try await eventually("the turn to start", timeout: .seconds(30)) {
                try await chat.fixture.client.status().inFlight == 1 ? true : nil
            }
            try await chat.synapse.stop()
            _ = try await eventually("the adapter to back off", timeout: .seconds(60), interval: .milliseconds(200)) {
                try await chat.adapterStatus()?.state == "backing_off" ? true : nil
            }
            // The reply is stored while the homeserver is away, and waits for it.
            _ = try await eventually("the reply to wait in the backlog", timeout: .seconds(60), interval: .milliseconds(200)) {
                (try await chat.adapterStatus()?.backlog ?? 0) > 0 ? true : nil
            }
            try await chat.synapse.start()
            try await chat.waitForReplies(to: [message], timeout: .seconds(120))
            let after = try await chat.bob.send("and after it is back", to: chat.room)
            try await chat.waitForReplies(to: [message, after])
            #expect(try await chat.replyCounts() == [message: 1, after: 1])
            #expect(try await chat.adapterStatus()?.state == "connected")
        }
    }

    @Test("An encrypted room gets one notice that Baton cannot read it")
    func encryptedRoom() async throws {
        try await withMatrixConversation { chat in
            let secret = try await chat.alice.createRoom(inviting: [chat.bot.userID], encrypted: true)
            let notice = try await chat.alice.waitForMessages(in: secret, "the encryption notice") { seen in
                seen.contains { $0.msgtype == "m.notice" && $0.body.contains("cannot read encrypted messages") }
            }
            #expect(notice.filter { $0.msgtype == "m.notice" }.count == 1)
        }
    }

    @Test("A revoked token is reported in status and the HTTP API keeps serving")
    func badToken() async throws {
        try await withMatrixConversation(botToken: "syt_not_a_real_token_0123456789") { chat in
            let status = try await eventually("the adapter to report the token", timeout: .seconds(60), interval: .milliseconds(200)) {
                let status = try await chat.adapterStatus()
                return status?.state == "unauthorized" ? status : nil
            }
            #expect(status.reason?.contains("401") == true)
            let posted = try await chat.fixture.client.post(session: "http-session", text: "still here")
            #expect(posted.status == 202)
            #expect(chat.server.process.terminated == nil)
        }
    }
}
