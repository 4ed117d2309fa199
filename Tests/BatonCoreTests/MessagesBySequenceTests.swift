@testable import BatonCore
import BatonTestSupport
import Foundation
import GRDB
import Synchronization
import Testing

/// Messages kept under their sequence (migration `v10-messages-by-sequence`): a store from
/// a release before upgrades with every message and every value kept, and goes on taking
/// new ones.
@Suite struct MessagesBySequenceTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-messages-order-\(UUID().uuidString)").path

    /// Ids that sort otherwise than the sequences, each state, reply counts and positions.
    private let earlier: [Message] = [
        Message(
            id: "zulu", sequence: 1, session: "a", user: "ann", text: "first", state: .done,
            acknowledgement: Acknowledgement(id: "zulu", session: "a", status: .accepted, position: 0),
            acceptedAt: Date(timeIntervalSince1970: 1_700_000_000.25), replies: 2),
        Message(
            id: "alpha", sequence: 2, session: "b", user: "bob", text: "second", state: .interrupted,
            acknowledgement: Acknowledgement(id: "alpha", session: "b", status: .queued, position: 3),
            acceptedAt: Date(timeIntervalSince1970: 1_700_000_001.5), replies: 1),
        Message(
            id: "mike", sequence: 7, session: "a", user: "ann", text: "third", state: .queued,
            acknowledgement: Acknowledgement(id: "mike", session: "a", status: .queued, position: 1),
            acceptedAt: Date(timeIntervalSince1970: 1_700_000_002.75)),
    ]

    private func makeVersion5Store() throws {
        try EarlierSQLiteStore.write(in: directory, release: .v5) { db in
            for m in earlier {
                try db.execute(
                    sql: """
                        INSERT INTO messages (id, sequence, session, user, text, state, ack_status, ack_position, accepted_at, replies)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        m.id, m.sequence, m.session, m.user, m.text, m.state.rawValue, m.acknowledgement.status.rawValue,
                        m.acknowledgement.position, m.acceptedAt.timeIntervalSince1970, m.replies,
                    ])
            }
        }
    }

    @Test func anUpgradedStoreKeepsEveryMessageAndTakesNewOnes() async throws {
        try makeVersion5Store()
        let reports = Mutex<[StoreUpgradeProgress]>([])
        let store = try SQLiteStore(directory: directory) { progress in reports.withLock { $0.append(progress) } }

        for m in earlier { #expect(try store.message(id: m.id) == m) }
        #expect(try store.pendingMessages().map(\.id) == ["alpha", "mike"])
        #expect(try store.lastSequence() == 7)
        #expect(
            reports.withLock { $0 } == [
                StoreUpgradeProgress(step: "messages put in sequence order", done: 0, total: 3),
                StoreUpgradeProgress(step: "messages put in sequence order", done: 3, total: 3),
            ])

        var next = earlier[2]
        next.id = "new"
        next.sequence = 8
        next.acknowledgement.id = "new"
        _ = try await store.commit([[.insertMessage(next)], [.setState(id: "mike", state: .done)]])
        #expect(try store.message(id: "new") == next)
        #expect(try store.pendingMessages().map(\.id) == ["alpha", "new"])
        let indexes = try await store.pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'")
        }
        #expect(indexes.count == 1, "the id's index alone: \(indexes)")
    }

    @Test func aDuplicateIdIsStillRefused() async throws {
        let store = try SQLiteStore(directory: directory)
        var copy = earlier[0]
        _ = try await store.commit([[.insertMessage(copy)]])
        copy.sequence = 9
        let results = try await store.commit([[.insertMessage(copy)]])
        #expect(throws: DatabaseError.self) { try results[0].get() }
        #expect(try store.messageCount() == 1)
    }
}
