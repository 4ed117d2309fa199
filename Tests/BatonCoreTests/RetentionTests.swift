@testable import BatonCore
import BatonTestSupport
import Foundation
import GRDB
import Logging
import Testing

/// `store.retention`: old finished history goes, pending work and counters stay, and event
/// ids keep growing over pruning, restarts and an upgrade. Time is the pass's `now`,
/// never a sleep: a pass "31 days later" sees everything stored now as old.
@Suite struct RetentionTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-retention-\(UUID().uuidString)").path
    static let month: Duration = .seconds(30 * 86_400)
    static let later = Date().addingTimeInterval(31 * 86_400)

    private func message(_ id: String, _ sequence: Int64, session: String = "s", state: MessageState, acceptedAt: Date = Date()) -> Message {
        Message(
            id: id, sequence: sequence, session: session, user: "u", text: "text \(id)", state: state,
            acknowledgement: .init(id: id, session: session, status: .queued, position: 0), acceptedAt: acceptedAt)
    }

    private func event(_ session: String = "s") -> StoreWrite {
        .appendEvent(SessionEvent(session: session, id: 0, kind: .notice, data: "{}"))
    }

    /// Commits one group and returns the ids its events were stored under.
    @discardableResult
    private func commit(_ store: some Store, _ writes: [StoreWrite]) async throws -> [Int64] {
        try await store.commit([writes])[0].get().map(\.id)
    }

    private func pruner(_ store: some Store, batchSize: Int = 2) -> HistoryPruner {
        HistoryPruner(store: store, retention: Self.month, batchSize: batchSize, pause: .zero, logger: Logger(label: "test"))
    }

    @Test func oldFinishedHistoryGoesWhilePendingMessagesCursorsAndPositionsStay() async throws {
        let store = try SQLiteStore(directory: directory)
        let states: [MessageState] = [.done, .failed, .cancelled, .queued, .running, .interrupted, .done]
        try await commit(store, states.enumerated().map { .insertMessage(message("old\($0)", Int64($0 + 1), state: $1)) })
        // Accepted "after" the pass's cutoff: kept although finished.
        try await commit(store, [.insertMessage(message("young", 100, state: .done, acceptedAt: Self.later))])
        try await commit(store, (0..<5).map { _ in event() } + [event("other")])
        try await commit(
            store,
            [
                .saveCursor(network: "matrix", cursor: "s_1"), .markDelivered(network: "matrix", session: "s", eventID: 3),
                .addMark(network: "matrix", mark: "welcomed"),
                .addMark(network: "answered", mark: "$event", expires: true),
            ])

        let pass = try await pruner(store).prunePass(now: Self.later)

        #expect(pass.messages == 4)
        #expect(pass.events == 6)
        #expect(pass.batches > 2, "small batches: \(pass)")
        #expect(try store.pendingMessages().map(\.id) == ["old3", "old4", "old5"])
        #expect(try store.message(id: "young") != nil)
        #expect(try store.messageCount() == 4)
        #expect(try store.events(session: "s", after: 0).isEmpty)
        #expect(try store.cursor(network: "matrix") == "s_1")
        #expect(try store.deliveryPositions(network: "matrix") == ["s": 3])
        #expect(try store.hasMark(network: "matrix", mark: "welcomed"), "kept for good")
        #expect(try !store.hasMark(network: "answered", mark: "$event"), "went with the history")
        #expect(try store.lastEventID(session: "s") == 5, "the counter outlives the events")

        // Nothing left to do: a second pass steps over the pending messages, deletes nothing.
        let again = try await pruner(store).prunePass(now: Self.later)
        #expect(again.messages == 0 && again.events == 0)
    }

    @Test func historyYoungerThanTheRetentionIsKept() async throws {
        let store = try SQLiteStore(directory: directory)
        try await commit(store, [.insertMessage(message("m", 1, state: .done)), event()])
        let pass = try await pruner(store).prunePass()
        #expect(pass.messages == 0 && pass.events == 0)
        #expect(try store.messageCount() == 1)
        #expect(try store.events(session: "s", after: 0).count == 1)
    }

    @Test func eventIDsKeepGrowingAfterPruningAndAcrossAReopen() async throws {
        let store = try SQLiteStore(directory: directory)
        #expect(try await commit(store, (0..<5).map { _ in event() }) == [1, 2, 3, 4, 5])
        _ = try await pruner(store).prunePass(now: Self.later)
        #expect(try store.events(session: "s", after: 0).isEmpty)
        #expect(try await commit(store, [event()]) == [6])

        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.lastEventID(session: "s") == 6)
        #expect(try await commit(reopened, [event(), event("fresh")]) == [7, 1])
        #expect(try reopened.events(session: "s", after: 5).map(\.id) == [6, 7])
    }

    @Test func aGroupThatFailsGivesBackTheIdsItTook() async throws {
        let store = try SQLiteStore(directory: directory)
        try await commit(store, [.insertMessage(message("dup", 1, state: .done))])
        let results = try await store.commit([[event(), .insertMessage(message("dup", 2, state: .done))], [event()]])
        #expect(throws: (any Error).self) { try results[0].get() }
        #expect(try results[1].get().map(\.id) == [1])
    }

    @Test func aStoreFromBeforeRetentionUpgradesInPlace() async throws {
        // A v3 store, as the release before retention left it, with history in it.
        try EarlierSQLiteStore.write(in: directory, release: .v3) { db in
            try db.execute(
                sql: """
                    INSERT INTO messages (id, sequence, session, user, text, state, ack_status, ack_position, accepted_at)
                        VALUES ('m1', 1, 's', 'u', 'text', 'done', 'accepted', 0, 0), ('m2', 2, 's', 'u', 'text', 'queued', 'queued', 1, 0);
                    INSERT INTO events (session, id, kind, data, created_at)
                        VALUES ('s', 1, 'notice', '{}', 0), ('s', 2, 'notice', '{}', 0), ('s', 3, 'notice', '{}', 0);
                    """)
        }

        let upgraded = try SQLiteStore(directory: directory)
        let tables = try await upgraded.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE name IN ('sessions', 'event_index') ORDER BY name")
        }
        #expect(tables == ["event_index", "sessions"])
        #expect(try upgraded.lastEventID(session: "s") == 3)
        #expect(try upgraded.recovery().pending.map(\.id) == ["m2"])
        _ = try await pruner(upgraded).prunePass(now: Self.later)
        #expect(try upgraded.pendingMessages().map(\.id) == ["m2"])
        #expect(try upgraded.events(session: "s", after: 0).isEmpty)
        #expect(try await commit(upgraded, [event()]) == [4])
    }

    @Test func recoveryReadsPendingWorkOnly() async throws {
        let store = try SQLiteStore(directory: directory)
        try await commit(store, (1...50).map { .insertMessage(message("m\($0)", Int64($0), session: "s\($0)", state: .done)) })
        try await commit(store, (1...50).map { event("s\($0)") })
        try await commit(store, [.insertMessage(message("waiting", 51, state: .queued))])
        let recovery = try store.recovery()
        #expect(recovery.pending.map(\.id) == ["waiting"])
        #expect(recovery.lastSequence == 51)
    }

    // MARK: The plan every store follows

    private func candidate(_ sequence: Int64, _ state: MessageState, old: Bool) -> StorePruning.Candidate {
        StorePruning.Candidate(
            id: "m\(sequence)", sequence: sequence, state: state, acceptedAt: old ? Date(timeIntervalSince1970: 0) : Date())
    }

    @Test func aPlanStepsOverPendingMessagesAndStopsAtTheFirstYoungOne() {
        let cutoff = Date(timeIntervalSince1970: 1000)
        let plan = StorePruning.plan(
            [candidate(3, .done, old: true), candidate(4, .queued, old: true), candidate(5, .failed, old: true), candidate(6, .done, old: false)],
            before: cutoff, after: 2, limit: 4)
        #expect(plan.delete == ["m3", "m5"])
        #expect(plan.examinedThrough == 5)
        #expect(!plan.hasMore)

        let full = StorePruning.plan([candidate(3, .running, old: true), candidate(4, .cancelled, old: true)], before: cutoff, after: 2, limit: 2)
        #expect(full.delete == ["m4"] && full.examinedThrough == 4 && full.hasMore)
    }

    @Test func theRetentionIsCheckedLikeEveryOtherKey() throws {
        #expect(Configuration().store.retentionPeriod == .seconds(30 * 86_400))
        func load(_ value: String) throws -> StoreConfiguration {
            try ConfigurationLoader(environment: ["BATON_STORE_RETENTION": value]).load(path: nil).store
        }
        #expect(try load("0").retentionPeriod == nil)
        #expect(try load("0.5").retentionPeriod == .seconds(43_200))
        for bad in ["-1", "forever", "0.0001", "40000"] {
            #expect(throws: ConfigurationError.self) { try load(bad) }
        }
    }
}
