@testable import BatonCore
import Foundation
import GRDB
import Testing

/// The upgrade to the index table (migration `v9-session-index-table`) from the store the
/// stop before left (`v8-deferred-session-index`), whose events were in its partial index
/// or still waiting to enter it: every event is found by session afterwards, and ids go on.
@Suite struct SessionIndexUpgradeTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-index-upgrade-\(UUID().uuidString)").path

    @Test func eventsIndexedOrWaitingBeforeAreAllFoundAfter() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("baton.sqlite"))
        try SQLiteStore.migrator { _ in }.migrate(queue, upTo: "v8-deferred-session-index")
        try await queue.write { db in
            // a1 and b1 indexed, a2 and b2 waiting, as the v8 writer left them.
            for (session, id, indexed) in [("a", 1, 1), ("b", 1, 1), ("a", 2, 0), ("b", 2, 0)] {
                try db.execute(
                    sql: "INSERT INTO events (session, id, kind, data, created_at, indexed) VALUES (?, ?, 'reply', ?, 0, ?)",
                    arguments: [session, id, "\(session)\(id)", indexed])
            }
        }
        try queue.close()

        let store = try SQLiteStore(directory: directory)
        #expect(try store.events(session: "a", after: 0).map(\.data) == ["a1", "a2"])
        #expect(try store.events(session: "b", after: 1).map(\.data) == ["b2"])
        #expect(try store.lastEventIDs(sessionsStartingWith: "") == ["a": 2, "b": 2])
        #expect(try await store.commit([[.appendEvent(SessionEvent(session: "a", id: 0, kind: .notice, data: "a3"))]])[0].get().map(\.id) == [3])
        #expect(try store.events(session: "a", after: 0).map(\.data) == ["a1", "a2", "a3"])
        let (columns, indexed) = try await store.pool.read { db in
            (try db.columns(in: "events").map(\.name), try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_index") ?? 0)
        }
        #expect(!columns.contains("indexed"))
        #expect(indexed == 4, "the events from before are indexed; the new one is in the tail")
    }
}
