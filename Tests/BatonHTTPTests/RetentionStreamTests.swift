import BatonCore
import BatonTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A stream resumed with `Last-Event-ID` after `store.retention` pruned the events before
/// it, and after a restart, shows every new event once and none it had already shown.
@Suite struct RetentionStreamTests {
    @Test func aResumedStreamShowsNothingTwiceAfterPruningAndARestart() async throws {
        let baton = InProcessBaton()
        let resumeFrom = Mutex<Int64>(0)
        try await baton.run { app, client in
            for text in ["a", "b", "c"] { _ = try await client.send(session: "s", text: text) }
            let before = try await client.events(session: "s") { $0.filter(\.isReply).count == 3 }
            let last = try #require(before.last?.id)
            resumeFrom.withLock { $0 = last }

            // A pass "31 days later": everything stored so far is past the retention.
            let pruner = HistoryPruner(store: app.store, retention: .seconds(30 * 86_400), pause: .zero, logger: Logger(label: "test"))
            let pass = try await pruner.prunePass(now: Date().addingTimeInterval(31 * 86_400))
            #expect(pass.events == before.count)

            _ = try await client.send(session: "s", text: "d")
            let resumed = try await client.events(session: "s", after: last) { $0.filter(\.isReply).count == 1 }
            #expect(resumed.numberedIDs.allSatisfy { $0 > last }, "\(resumed)")
            #expect(resumed.idsStrictlyIncrease)
            let session = try await client.request("GET", "/v1/sessions/s")
            #expect((session.json["last_event_id"] as? Int).map(Int64.init) == resumed.last?.id)
        }
        let last = resumeFrom.withLock { $0 }
        try await baton.run { _, client in
            _ = try await client.send(session: "s", text: "e")
            let resumed = try await client.events(session: "s", after: last) { $0.filter(\.isReply).count == 2 }
            #expect(resumed.numberedIDs.allSatisfy { $0 > last }, "\(resumed)")
            #expect(resumed.idsStrictlyIncrease, "\(resumed)")
            #expect(resumed.replyTargets.count == 2, "each new reply once: \(resumed)")
        }
    }

    @Test func statusCountsSessionsWithWorkNotEverySessionSeen() async throws {
        try await InProcessBaton().run { app, client in
            for session in ["a", "b", "c"] {
                let sent = try await client.send(session: session, text: "hi")
                _ = try await client.events(session: session) { $0.firstReply(to: sent.id) != nil }
            }
            // Once the three turns have ended, no session is held: they were all answered.
            try await withTimeout(.seconds(30), waitingFor: "every session to go idle") {
                for await status in await app.gateway.statusUpdates() where status.sessions == 0 && status.inFlight == 0 { break }
            }
        }
    }
}
