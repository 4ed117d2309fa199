@testable import BatonCore
import BatonTestSupport
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

/// Events kept in commit order (migration `v6-events-in-commit-order`): a store from the
/// release before upgrades with every event, its id and its order kept, and pruning takes
/// the oldest from the start of the table.
@Suite struct EventsInCommitOrderTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-events-order-\(UUID().uuidString)").path
    static let later = Date().addingTimeInterval(31 * 86_400)

    private func event(_ session: String) -> StoreWrite {
        .appendEvent(SessionEvent(session: session, id: 0, kind: .notice, data: #"{"text":"new"}"#))
    }

    private func pruner(_ store: SQLiteStore) -> HistoryPruner {
        HistoryPruner(store: store, retention: .seconds(30 * 86_400), batchSize: 2, pause: .zero, logger: Logger(label: "test"))
    }

    private func makeVersion5Store(events: [(session: String, id: Int64, data: String, createdAt: Double)]) throws {
        try EarlierSQLiteStore.write(
            in: directory, events: events.map { .init(session: $0.session, id: $0.id, data: $0.data, createdAt: $0.createdAt) },
            prunedThrough: ["b": 4])
    }

    @Test func anUpgradedStoreKeepsEveryEventItsIdAndItsOrder() async throws {
        let now = Date().timeIntervalSince1970
        try makeVersion5Store(events: [
            ("b", 5, "b5", now + 1), ("a", 1, "a1", now + 2), ("a", 2, "a2", now + 3), ("b", 6, "b6", now + 4), ("a", 3, "a3", now + 5),
        ])

        let store = try SQLiteStore(directory: directory)

        #expect(try store.events(session: "a", after: 0).map(\.data) == ["a1", "a2", "a3"])
        #expect(try store.events(session: "a", after: 1).map(\.id) == [2, 3])
        #expect(try store.events(session: "b", after: 0).map(\.data) == ["b5", "b6"])
        #expect(try store.lastEventIDs(sessionsStartingWith: "") == ["a": 3, "b": 6])
        // The next ids follow on in each session, in the one commit.
        #expect(try await store.commit([[event("a"), event("b"), event("c")]])[0].get().map(\.id) == [4, 7, 1])
        let (order, indexes) = try await store.pool.read { db in
            (
                try String.fetchAll(db, sql: "SELECT data FROM events ORDER BY sequence"),
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' ORDER BY name")
            )
        }
        #expect(Array(order.prefix(5)) == ["b5", "a1", "a2", "b6", "a3"], "commit order, oldest first")
        #expect(indexes.isEmpty, "found by session through event_index alone")
    }

    @Test func theUpgradeReportsItsProgressAndANewStoreHasNoneToReport() throws {
        let now = Date().timeIntervalSince1970
        try makeVersion5Store(events: (1...5).map { ("a", Int64($0), "a\($0)", now + Double($0)) })
        let reports = Mutex<[StoreUpgradeProgress]>([])
        _ = try SQLiteStore(directory: directory) { progress in reports.withLock { $0.append(progress) } }
        #expect(
            reports.withLock { $0 } == [
                StoreUpgradeProgress(step: "events put in commit order", done: 0, total: 5),
                StoreUpgradeProgress(step: "events put in commit order", done: 5, total: 5),
                StoreUpgradeProgress(step: "events indexed by session", done: 0, total: 5),
                StoreUpgradeProgress(step: "events indexed by session", done: 5, total: 5),
            ])

        let fresh = FileManager.default.temporaryDirectory.appendingPathComponent("baton-events-order-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: fresh) }
        _ = try SQLiteStore(directory: fresh) { progress in reports.withLock { $0.append(progress) } }
        #expect(reports.withLock { $0.count } == 4, "a new store has nothing to upgrade")
    }

    @Test func pruningTakesTheOldestAndStepsOverOneFromAClockSetBack() async throws {
        let now = Date().timeIntervalSince1970
        // The second event's clock was ahead: younger than the cutoff, among the oldest.
        try makeVersion5Store(events: [
            ("a", 1, "a1", now - 10), ("a", 2, "a2", Self.later.timeIntervalSince1970 + 86_400), ("b", 5, "b5", now - 8),
            ("a", 3, "a3", now - 6), ("b", 6, "b6", now - 4),
        ])
        let store = try SQLiteStore(directory: directory)

        // Batches of two: the event from the clock set back stays first in every batch.
        let pass = try await pruner(store).prunePass(now: Self.later)

        #expect(pass.events == 4)
        #expect(try store.events(session: "a", after: 0).map(\.data) == ["a2"])
        #expect(try store.events(session: "b", after: 0).isEmpty)
        #expect(try store.lastEventID(session: "b") == 6, "the counter outlives the events")
        #expect(try await store.commit([[event("b")]])[0].get().map(\.id) == [7])
    }
}
