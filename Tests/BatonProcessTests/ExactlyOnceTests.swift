import BatonTestSupport
import Foundation
import Glibc
import Testing

/// The real `baton` binary killed with SIGKILL while turns stream several replies: the
/// next process runs each interrupted turn again, and the session sees each reply once.
@Suite("Exactly-once replies across SIGKILL", .serialized)
struct ExactlyOnceTests {
    static let agent = (BatonBinary.repositoryRoot as NSString).appendingPathComponent("examples/test-agents/exec-test-agent.py")
    static let parts = 4

    @Test("SIGKILL at many points while turns stream replies: every reply of every acknowledged message once, in order")
    func sigkillWhileRepliesStream() async throws {
        try await withBatonFixture({ $0.agentCommand = [Self.agent] }) { baton in
            var server = try await baton.startServer()
            var sent: [SentMessage] = []
            // Kill points spread from "just stored" to "some replies out" to "turn done".
            let pauses = [0, 60, 130, 200, 270, 340, 420, 500, 600, 750, 900, 1100]
            for (round, pause) in pauses.enumerated() {
                sent.append(try await baton.client.send(session: "stream-\(round % 3)", text: "stream \(Self.parts) 120"))
                try await Task.sleep(for: .milliseconds(pause))
                server.send(SIGKILL)
                #expect(try await server.exit(within: .seconds(30)) == .signalled(SIGKILL))
                server = try await baton.startServer()
            }
            for session in Set(sent.map(\.session)).sorted() {
                let messages = sent.filter { $0.session == session }
                let expectedIDs = messages.flatMap { message in (1...Self.parts).map { "\(message.id).\($0)" } }
                _ = try await baton.client.events(session: session, timeout: .seconds(120)) { events in
                    Set(events.filter(\.isReply).compactMap { $0.payload?.id }).isSuperset(of: expectedIDs)
                }
                let replies = try await baton.client.allEvents(session: session).filter(\.isReply)
                #expect(replies.compactMap { $0.payload?.id } == expectedIDs, "session \(session): each reply once, in order")
                let texts = messages.flatMap { _ in (1...Self.parts).map { "part \($0) of \(Self.parts)" } }
                #expect(replies.compactMap { $0.payload?.text } == texts)
            }
        }
    }

    @Test("A turn run again is told so, with the replies already delivered")
    func rerunIsAnnounced() async throws {
        try await withBatonFixture({ $0.agentCommand = [Self.agent] }) { baton in
            let server = try await baton.startServer()
            let slow = try await baton.client.send(session: "rerun", text: "slow")
            _ = try await baton.client.events(session: "rerun") { $0.contains(where: \.isReply) }
            server.send(SIGKILL)
            _ = try await server.exit(within: .seconds(30))
            // The next process runs "slow" again; its turn JSON says it is a re-run that
            // already delivered one reply, which the agent repeats and then says so.
            _ = try await baton.startServer()
            let events = try await baton.client.events(session: "rerun") { $0.filter(\.isReply).count >= 2 }
            let replies = events.filter(\.isReply)
            #expect(replies.compactMap { $0.payload?.id } == ["\(slow.id).1", "\(slow.id).2"], "the re-run's first reply is not repeated")
            #expect(replies.compactMap { $0.payload?.text } == ["working", "re-run after 1 delivered"])
        }
    }
}
