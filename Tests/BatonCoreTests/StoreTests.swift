@testable import BatonCore
import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Testing

@Suite struct StoreTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-store-\(UUID().uuidString)").path

    private func message(_ id: String, _ sequence: Int64, session: String = "s", state: MessageState = .queued) -> Message {
        Message(
            id: id, sequence: sequence, session: session, user: "u", text: "text \(id)", state: state,
            acknowledgement: .init(id: id, session: session, status: .queued, position: 0), acceptedAt: Date())
    }

    /// Runs a writer service while `body` runs, then shuts it down gracefully.
    private func withWriter(_ store: SQLiteStore, bus: EventBus = EventBus(), _ body: (StoreWriter) async throws -> Void) async throws {
        let writer = StoreWriter(store: store, bus: bus, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            try await body(writer)
            group.cancelAll()
            try await group.waitForAll()
        }
    }

    @Test func everyCommitIsSyncedToDisk() throws {
        #expect(try SQLiteStore(directory: directory).synchronousMode() == 2)
    }

    @Test func aWrittenMessageIsInTheFileForTheNextProcess() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            try await writer.write([.insertMessage(message("m1", 1))])
        }
        // A second Store on the same directory is what the next process sees.
        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.message(id: "m1")?.text == "text m1")
        #expect(try reopened.lastSequence() == 1)
    }

    @Test func pendingMessagesComeBackInAcceptanceOrderWithoutFinishedOnes() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            try await writer.write([
                .insertMessage(message("late", 3, state: .queued)),
                .insertMessage(message("early", 1, state: .interrupted)),
                .insertMessage(message("crashed", 2, state: .running)),
                .insertMessage(message("answered", 4, state: .done)),
                .insertMessage(message("failed", 5, state: .failed)),
            ])
        }
        #expect(try store.pendingMessages().map(\.id) == ["early", "crashed", "late"])
    }

    @Test func concurrentWritesAllLandAndEventsArePublishedInOrder() async throws {
        let store = try SQLiteStore(directory: directory)
        let bus = EventBus()
        let subscription = bus.subscribe(session: "s")
        try await withWriter(store, bus: bus) { writer in
            // Queued synchronously in id order, committed in whatever groups form.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in Int64(1)...200 {
                    let event = SessionEvent(session: "s", id: id, kind: .notice, data: "{}")
                    writer.enqueue([.appendEvent(event)])
                }
                for index in 1...50 {
                    group.addTask { try await writer.write([.insertMessage(message("c\(index)", Int64(1000 + index)))]) }
                }
                try await group.waitForAll()
            }
        }
        #expect(try store.messageCount() == 50)
        #expect(try store.events(session: "s", after: 0, limit: 1000).map(\.id) == Array(1...200))
        var seen: [Int64] = []
        for await item in subscription.items {
            if case .event(let event) = item { seen.append(event.id) }
            if seen.count == 200 { break }
        }
        #expect(seen == Array(1...200))
    }

    @Test func aFailingBatchFailsAloneAndPublishesNothing() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            try await writer.write([.insertMessage(message("dup", 1))])
            await #expect(throws: (any Error).self) {
                try await writer.write([
                    .appendEvent(SessionEvent(session: "s", id: 1, kind: .notice, data: "{}")),
                    .insertMessage(message("dup", 2)),
                ])
            }
            try await writer.write([.insertMessage(message("ok", 3))])
        }
        #expect(try store.message(id: "ok") != nil)
        #expect(try store.events(session: "s", after: 0).isEmpty)
    }

    @Test func oneCommitWithAFailingGroupKeepsTheGroupsAroundIt() async throws {
        let store = try SQLiteStore(directory: directory)
        _ = try await store.commit([[.insertMessage(message("dup", 1))]])
        let event = { (id: Int64) in SessionEvent(session: "s", id: id, kind: .notice, data: "{}") }
        let results = try await store.commit([
            [.insertMessage(message("a", 2)), .appendEvent(event(1))],
            [.appendEvent(event(2)), .insertMessage(message("dup", 3))],
            [.setState(id: "a", state: .done), .appendEvent(event(3))],
        ])
        // The store gives event ids as it commits: the failed group's event took none.
        #expect(results.map { (try? $0.get())?.map(\.id) } == [[1], nil, [2]])
        #expect(try store.message(id: "a")?.state == .done)
        #expect(try store.events(session: "s", after: 0).map(\.id) == [1, 2])
    }

    /// Another connection holding the file's exclusive lock (as a store's last connection
    /// does while it closes) makes opening wait, not fail with "database is locked".
    @Test func openingWaitsForALockAnotherConnectionHolds() async throws {
        do {
            let store = try SQLiteStore(directory: directory)
            _ = try await store.commit([[.insertMessage(message("m1", 1))]])
        }
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = [
            "-c",
            """
            import sqlite3, sys, time
            db = sqlite3.connect(sys.argv[1], isolation_level=None)
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            db.execute("BEGIN EXCLUSIVE")
            print("locked", flush=True)
            time.sleep(0.5)
            db.execute("COMMIT")
            db.close()
            """,
            directory + "/baton.sqlite",
        ]
        let output = Pipe()
        holder.standardOutput = output
        try holder.run()
        var said = ""
        while !said.contains("locked") {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // it exited
            said += String(decoding: chunk, as: UTF8.self)
        }
        #expect(said.contains("locked"), "the lock holder said: \(said)")

        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.message(id: "m1")?.text == "text m1")
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 0)
    }

    @Test func aMessageAndItsTurnInOneCommitAreStoredWithTheirLastValues() async throws {
        let store = try SQLiteStore(directory: directory)
        let reply = SessionEvent(session: "s", id: 0, kind: .reply, data: "{}")
        // As the gateway queues them: the turn's "running" before the message's insert.
        _ = try await store.commit([
            [.setState(id: "m", state: .running)],
            [.insertMessage(message("m", 1))],
            [.insertMessage(message("other", 2))],
            [.setState(id: "other", state: .running)],
        ])
        #expect(try store.message(id: "m")?.state == .running)
        #expect(try store.message(id: "other")?.state == .running)
        #expect(try store.pendingMessages().map(\.id) == ["m", "other"])

        _ = try await store.commit([
            [.insertMessage(message("n", 3))],
            [.setState(id: "n", state: .running)],
            [.appendReply(reply, message: "n", ordinal: 1), .appendReply(reply, message: "n", ordinal: 2)],
            [.appendReply(reply, message: "m", ordinal: 1), .setState(id: "m", state: .done)],
            [.setState(id: "n", state: .done)],
        ])
        let (m, n) = (try store.message(id: "m"), try store.message(id: "n"))
        #expect(m?.state == .done && m?.replies == 1)
        #expect(n?.state == .done && n?.replies == 2)
        #expect(try store.pendingMessages().map(\.id) == ["other"])
        #expect(try store.events(session: "s", after: 0).map(\.id) == [1, 2, 3])
    }

    /// The three statements every message runs bind their values straight to SQLite
    /// (`Statement.execute(binding:)`): every kind of value, text beyond ASCII and a
    /// state left as it was (a reply without its turn's end), read back as written.
    @Test func everyValueOfAMessageAndItsReplyIsStoredAsWritten() async throws {
        let store = try SQLiteStore(directory: directory)
        let acceptedAt = Date(timeIntervalSince1970: 1_796_000_000.125)
        let written = Message(
            id: "m-é", sequence: 7, session: "salle 日本", user: "zoë", text: "line one\nline two 👍🏽 \"quoted\"", state: .queued,
            acknowledgement: .init(id: "m-é", session: "salle 日本", status: .queued, position: 3), acceptedAt: acceptedAt)
        let reply = SessionEvent(session: "salle 日本", id: 0, kind: .reply, data: #"{"text":"réponse 🙂"}"#)
        _ = try await store.commit([[.insertMessage(written)]])
        _ = try await store.commit([[.appendReply(reply, message: "m-é", ordinal: 2)]])

        let read = try #require(try store.message(id: "m-é"))
        #expect(read.sequence == 7 && read.session == "salle 日本" && read.user == "zoë")
        #expect(read.text == "line one\nline two 👍🏽 \"quoted\"")
        #expect(read.state == .queued && read.replies == 2)
        #expect(read.acknowledgement == written.acknowledgement)
        #expect(read.acceptedAt.timeIntervalSince1970 == acceptedAt.timeIntervalSince1970)
        let events = try store.events(session: "salle 日本", after: 0)
        #expect(events.map(\.id) == [1])
        #expect(events.first?.kind == .reply && events.first?.data == #"{"text":"réponse 🙂"}"#)
    }

    /// A full disk fails a commit as a whole, at once: every group would fail the same way,
    /// so none is tried again alone, and none of them is stored. (SQLite's page limit stands
    /// in for the disk.)
    @Test func aCommitTheStoreCannotTakeAsAWholeFailsEveryGroup() async throws {
        let store = try SQLiteStore(directory: directory)
        _ = try await store.commit([[.insertMessage(message("m1", 1))]])
        try await store.pool.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        var large = message("large", 2)
        large.text = String(repeating: "x", count: 256 * 1024)
        let failure = await #expect(throws: DatabaseError.self) {
            try await store.commit([[.insertMessage(message("small", 3))], [.insertMessage(large)]])
        }
        #expect(failure?.resultCode == .SQLITE_FULL)
        #expect(try store.message(id: "small") == nil)
        #expect(try store.message(id: "m1")?.text == "text m1")
    }

    @Test func writesAfterTheWriterStoppedFailInsteadOfHanging() async throws {
        let store = try SQLiteStore(directory: directory)
        let writer = StoreWriter(store: store, bus: EventBus(), logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            group.cancelAll()
            try await group.waitForAll()
        }
        await #expect(throws: StoreWriter.ClosedError.self) {
            try await writer.write([.insertMessage(message("late", 1))])
        }
    }

    @Test func eventsAreReadAfterAnIdInPages() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            try await writer.write((1...10).map { .appendEvent(SessionEvent(session: "s", id: $0, kind: .reply, data: "{\"n\":\($0)}")) })
            try await writer.write([.appendEvent(SessionEvent(session: "other", id: 1, kind: .reply, data: "{}"))])
        }
        #expect(try store.events(session: "s", after: 7).map(\.id) == [8, 9, 10])
        #expect(try store.events(session: "s", after: 2, limit: 3).map(\.id) == [3, 4, 5])
        #expect(try store.lastEventIDs(sessionsStartingWith: "") == ["s": 10, "other": 1])
        #expect(try store.lastEventIDs(sessionsStartingWith: "s") == ["s": 10])
        #expect(try store.lastEventIDs(sessionsStartingWith: "!") == [:])
    }

    /// Events enter the session index in bulk (``SQLiteSessionIndex``): whether a
    /// session's events are indexed yet or still in the tail, every read finds them all, in
    /// order, and a session's next event gets the next id, in this process and the next.
    @Test func eventsAreFoundWhetherIndexedOrInTheTail() async throws {
        let store = try SQLiteStore(directory: directory)
        let perSession = SQLiteSessionIndex.threshold / 4 + 10
        func appendRound(_ writer: StoreWriter) async throws {
            // One event per session per commit, as sessions interleave under load.
            for _ in 0..<perSession {
                try await writer.write(["a", "b", "c", "d"].map { .appendEvent(SessionEvent(session: $0, id: 0, kind: .reply, data: "{}")) })
            }
        }
        try await withWriter(store) { writer in
            try await appendRound(writer)
            // Past the threshold: the commit after it indexed the tail; the ten rounds
            // after that are the tail.
            #expect(try eventsInTheTail(store) == 4 * 10)
            try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
        }
        #expect(try eventsInTheTail(store) == 4 * 10 + 1, "the newest events are still in the tail")
        let count = Int64(perSession)
        #expect(try store.events(session: "a", after: 0, limit: 100_000).map(\.id) == Array(1...count + 1))
        #expect(try store.events(session: "b", after: count - 3).map(\.id) == Array(count - 2...count))
        #expect(try store.events(session: "a", after: count - 5, limit: 3).map(\.id) == Array(count - 4...count - 2))
        #expect(try store.lastEventID(session: "a") == count + 1)
        #expect(try store.lastEventIDs(sessionsStartingWith: "") == ["a": count + 1, "b": count, "c": count, "d": count])

        // The next process: the tail is still found, and ids go on from it.
        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.events(session: "a", after: count - 1).map(\.id) == [count, count + 1])
        #expect(try reopened.lastEventID(session: "b") == count)
        try await withWriter(reopened) { writer in
            try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
            try await appendRound(writer)
        }
        #expect(try reopened.events(session: "a", after: 0, limit: 100_000).map(\.id) == Array(1...2 * count + 2))
        #expect(try reopened.lastEventIDs(sessionsStartingWith: "") == ["a": 2 * count + 2, "b": 2 * count, "c": 2 * count, "d": 2 * count])
        let (unique, indexed): (Int, Int) = try await reopened.pool.read { db in
            (
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (SELECT DISTINCT session, id FROM events)") ?? 0,
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM event_index") ?? 0
            )
        }
        #expect(unique == 4 * 2 * perSession + 2)
        #expect(indexed + (try eventsInTheTail(reopened)) == unique, "every event indexed or in the tail, once")
    }

    /// A copy of an indexed event (which no commit should make) is left out of the index;
    /// every other event is indexed, and commits go on.
    @Test func aCopyOfAnIndexedEventDoesNotStopIndexing() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
            try await store.pool.write { db in
                try SQLiteSessionIndex.indexTail(through: 1, in: db)
                // Far above the sequences the writer hands out next, so none is taken twice.
                try db.execute(sql: "INSERT INTO events (sequence, session, id, kind, data, created_at) VALUES (1000000, 'a', 1, 'reply', '{}', 0)")
            }
            for _ in 0...SQLiteSessionIndex.threshold / 8 {
                try await writer.write((0..<8).map { .appendEvent(SessionEvent(session: "s\($0)", id: 0, kind: .reply, data: "{}")) })
            }
            try await writer.write([.appendEvent(SessionEvent(session: "b", id: 0, kind: .reply, data: "{}"))])
        }
        #expect(try eventsInTheTail(store) < 16, "the tail was indexed")
        #expect(try store.events(session: "b", after: 0).map(\.id) == [1])
        #expect(try store.events(session: "s7", after: 0, limit: 10_000).count == SQLiteSessionIndex.threshold / 8 + 1)
        #expect(try store.lastEventID(session: "s7") == Int64(SQLiteSessionIndex.threshold / 8 + 1))
    }

    /// Pruning every event, the newest too, does not hand out their sequences again:
    /// events after it are found, whether in the tail or indexed.
    @Test func eventsAfterEveryEventWasPrunedAreFound() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            for _ in 0..<3 {
                try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
            }
            try await store.pool.write { db in try SQLiteSessionIndex.indexTail(through: 3, in: db) }
            _ = try await store.prune(before: Date().addingTimeInterval(60), after: 0, limit: 100)
            #expect(try store.events(session: "a", after: 0).isEmpty)
            try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
        }
        #expect(try store.events(session: "a", after: 0).map(\.id) == [4])
        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.events(session: "a", after: 0).map(\.id) == [4])
        #expect(try reopened.lastEventID(session: "a") == 4)
    }

    /// With the clock set back, pruning may take a session's newest event and leave an
    /// older one in the tail: the next process still numbers on above the newest.
    @Test func anEventPrunedBeforeAnOlderOneKeepsItsIdTaken() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            for _ in 0..<3 {
                try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
            }
        }
        try await store.pool.write { db in
            try db.execute(sql: "UPDATE events SET created_at = CASE id WHEN 3 THEN 0 ELSE ? END", arguments: [Date().timeIntervalSince1970])
        }
        let pruned = try await store.prune(before: Date().addingTimeInterval(-3600), after: 0, limit: 100)
        #expect(pruned.events == 1)

        let reopened = try SQLiteStore(directory: directory)
        #expect(try reopened.events(session: "a", after: 0).map(\.id) == [1, 2])
        #expect(try reopened.lastEventID(session: "a") == 3)
        try await withWriter(reopened) { writer in
            try await writer.write([.appendEvent(SessionEvent(session: "a", id: 0, kind: .reply, data: "{}"))])
        }
        #expect(try reopened.events(session: "a", after: 0).map(\.id) == [1, 2, 4])
    }

    /// A read finds the tail's events by the places it took before its transaction: events
    /// the index took in between are found there, each once.
    @Test func eventsTheIndexTookSinceTheirPlacesWereReadAreFoundOnce() async throws {
        let store = try SQLiteStore(directory: directory)
        try await withWriter(store) { writer in
            for _ in 0..<4 {
                try await writer.write(["a", "b"].map { .appendEvent(SessionEvent(session: $0, id: 0, kind: .reply, data: "{}")) })
            }
        }
        let places = try await store.pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT sequence FROM events WHERE session = 'a' AND id > 1 ORDER BY sequence")
        }
        try await store.pool.write { db in try SQLiteSessionIndex.indexTail(through: 6, in: db) }
        let (all, two) = try await store.pool.read { db in
            (
                try SQLiteSessionIndex.events(session: "a", after: 1, limit: 100, tailSequences: places, in: db),
                try SQLiteSessionIndex.events(session: "a", after: 1, limit: 2, tailSequences: places, in: db)
            )
        }
        #expect(all.map(\.id) == [2, 3, 4], "2 and 3 indexed meanwhile, 4 still in the tail")
        #expect(two.map(\.id) == [2, 3])
    }

    /// How many events lie above the session index's watermark.
    private func eventsInTheTail(_ store: SQLiteStore) throws -> Int {
        try store.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE sequence > (SELECT sequence FROM event_index_watermark)") ?? 0
        }
    }

    /// A chat network's start reads its own sessions only: `!` rooms between names that
    /// sort just before and after them.
    @Test func lastEventIDsAreReadForTheSessionsOfAPrefix() async throws {
        let store = try SQLiteStore(directory: directory)
        let sessions = [" before", "!", "!a:x", "!b:x", "!b:x2", "\"after", "#alias:x", "plain"]
        try await withWriter(store) { writer in
            for (index, session) in sessions.enumerated() {
                try await writer.write((0...index).map { _ in .appendEvent(SessionEvent(session: session, id: 0, kind: .reply, data: "{}")) })
            }
        }
        #expect(try store.lastEventIDs(sessionsStartingWith: "!") == ["!": 2, "!a:x": 3, "!b:x": 4, "!b:x2": 5])
        #expect(try store.lastEventIDs(sessionsStartingWith: "!b") == ["!b:x": 4, "!b:x2": 5])
        #expect(try store.lastEventIDs(sessionsStartingWith: "p") == ["plain": 8])
        #expect(try store.lastEventIDs(sessionsStartingWith: "z").isEmpty)
    }
}
