@testable import BatonCore
import BatonTestSupport
import Foundation
import GRDB
import Testing

/// A start finds every message that still owes its session a turn, however the pending
/// floor moved (``SQLitePendingFloor``), and reads it through indexes only.
@Suite struct PendingFloorTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-floor-\(UUID().uuidString)").path

    private func message(_ sequence: Int64, state: MessageState) -> Message {
        let id = "m\(sequence)"
        return Message(
            id: id, sequence: sequence, session: "s\(sequence % 7)", user: "u", text: "text \(id)", state: state,
            acknowledgement: .init(id: id, session: "s\(sequence % 7)", status: .accepted, position: 0), acceptedAt: Date())
    }

    /// Commits as the gateway does under load, 32 messages a commit: most turns end a commit
    /// or a few later, some are interrupted first, and a few stay pending for thousands of
    /// messages (so they are parked). After every few commits, and in a reopened store (the
    /// next process), the pending messages read are exactly the ones the test left pending.
    @Test func everyPendingMessageIsFoundWhereverTheFloorMoved() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["BATON_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64.max)
        var random = SeededGenerator(seed: seed)
        var store = try SQLiteStore(directory: directory)
        let rounds = 300
        var endsAt: [Int: [Int64]] = [:]
        var interruptsAt: [Int: [Int64]] = [:]
        var pending = Set<Int64>()
        var sequence: Int64 = 0
        var parkedSeen: Int64 = 0
        for round in 1...rounds {
            var writes: [StoreWrite] = []
            for _ in 0..<32 {
                sequence += 1
                writes.append(.insertMessage(message(sequence, state: Bool.random(using: &random) ? .running : .queued)))
                pending.insert(sequence)
                let sticky = Int.random(in: 0..<400, using: &random) == 0
                let end = round + (sticky ? Int.random(in: 140...400, using: &random) : Int.random(in: 1...3, using: &random))
                endsAt[end, default: []].append(sequence)
                if Int.random(in: 0..<20, using: &random) == 0 {
                    interruptsAt[Int.random(in: round...max(round, end - 1), using: &random), default: []].append(sequence)
                }
            }
            for interrupted in interruptsAt.removeValue(forKey: round) ?? [] where pending.contains(interrupted) {
                writes.append(.setState(id: "m\(interrupted)", state: .interrupted))
            }
            for ended in endsAt.removeValue(forKey: round) ?? [] {
                writes.append(.setState(id: "m\(ended)", state: [.done, .failed, .cancelled].randomElement(using: &random)!))
                pending.remove(ended)
            }
            let results = try await store.commit([writes])
            #expect(results.allSatisfy { (try? $0.get()) != nil }, "seed \(seed), round \(round)")

            if round % 10 == 0 || round == rounds {
                parkedSeen = max(parkedSeen, try count("SELECT COUNT(*) FROM parked_messages", in: store))
                #expect(try store.pendingMessages().map(\.sequence) == pending.sorted(), "seed \(seed), round \(round)")
            }
            if round % 75 == 0 {
                store = try SQLiteStore(directory: directory)
                #expect(try store.recovery().pending.map(\.sequence) == pending.sorted(), "seed \(seed), reopened at round \(round)")
            }
        }
        // The floor did pass pending messages (they were parked), and still found them.
        #expect(parkedSeen > 0, "seed \(seed): no message stayed pending long enough to be parked")
        let floor = try count("SELECT sequence FROM pending_floor", in: store)
        #expect(pending.contains { $0 < floor }, "seed \(seed): the floor \(floor) passed no pending message")
    }

    /// A start reads the messages from the floor on, and the parked ones one by one: never
    /// the messages below the floor.
    @Test func readingThePendingMessagesReadsNoHistory() throws {
        let store = try SQLiteStore(directory: directory)
        let plan = try store.pool.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + SQLitePendingFloor.pendingMessagesSQL).map { $0["detail"] as String }
        }
        let messageReads = plan.filter { $0.hasPrefix("SCAN messages") || $0.hasPrefix("SEARCH messages") }
        #expect(messageReads.count == 2, "\(plan)")
        // Messages are stored under their sequence (the rowid).
        #expect(messageReads.allSatisfy { $0.hasSuffix("(rowid>?)") || $0.hasSuffix("(rowid=?)") }, "\(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN parked_messages") }, "\(plan)")
    }

    /// A store written before the floor existed starts its floor at its oldest pending
    /// message, and a start finds every pending one.
    @Test func aStoreFromBeforeTheFloorKeepsItsPendingMessages() throws {
        // The store as the release before the floor left it (migrations v1 to v4).
        try EarlierSQLiteStore.write(in: directory, release: .v4) { db in
            let states: [MessageState] = [.done, .done, .interrupted, .done, .queued, .failed, .running, .done]
            for (index, state) in states.enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO messages (id, sequence, session, user, text, state, ack_status, ack_position, accepted_at)
                        VALUES (?, ?, 's', 'u', 'text', ?, 'accepted', 0, 0)
                        """,
                    arguments: ["m\(index + 1)", index + 1, state.rawValue])
            }
        }

        let store = try SQLiteStore(directory: directory)
        #expect(try count("SELECT sequence FROM pending_floor", in: store) == 3)
        #expect(try store.recovery().pending.map(\.id) == ["m3", "m5", "m7"])
        #expect(try store.recovery().lastSequence == 8)
    }

    /// Retention may delete every message, the newest too, once all have long ended: the
    /// numbering goes on above the floor, so a message accepted after the next start is
    /// found by the start after it.
    @Test("After retention emptied the store, the next process numbers on above the floor, and its pending messages are found")
    func messagesAfterAnEmptiedStoreAreFoundAtTheNextStart() async throws {
        let old = Date().addingTimeInterval(-40 * 86_400)
        var store = try SQLiteStore(directory: directory)
        for batch in 0..<20 {
            let writes = (1...32).map { index -> StoreWrite in
                var done = message(Int64(batch * 32 + index), state: .done)
                done.acceptedAt = old
                return .insertMessage(done)
            }
            _ = try await store.commit([writes])
        }
        let floor = try count("SELECT sequence FROM pending_floor", in: store)
        #expect(floor > 512, "the floor was stored")
        var after: Int64 = 0
        while true {
            let pruned = try await store.prune(before: Date(), after: after, limit: 1000)
            after = pruned.examinedThrough
            if !pruned.hasMore { break }
        }
        #expect(try store.messageCount() == 0, "every message pruned")

        // The next process accepts a message and queues it (a drain, say).
        store = try SQLiteStore(directory: directory)
        let recovery = try store.recovery()
        #expect(recovery.lastSequence >= floor - 1, "numbering never goes back below the floor")
        _ = try await store.commit([[.insertMessage(message(recovery.lastSequence + 1, state: .queued))]])

        // The process after it finds the message.
        store = try SQLiteStore(directory: directory)
        #expect(try store.recovery().pending.map(\.sequence) == [recovery.lastSequence + 1])
    }

    private func count(_ sql: String, in store: SQLiteStore) throws -> Int64 {
        try store.pool.read { db in try Int64.fetchOne(db, sql: sql) ?? 0 }
    }
}
