import CSQLiteSettings
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Baton's durable state in SQLite, for one process: the default ``Store``.
///
/// The database is in WAL mode with `synchronous = FULL`, so a committed transaction is on
/// disk. All writes go through ``StoreWriter``, which batches concurrent ones into one
/// commit, except pruning's own short transactions; reads here run on GRDB's reader pool
/// beside them. Its reads are synchronous (the protocol's async requirements are met
/// without a suspension).
///
/// Event ids are assigned here, in the transaction: one above the higher of the session's
/// highest stored event and its `sessions.pruned_through`, which pruning raises in the
/// transaction that deletes events. So no counter is written per event, none is read at
/// start, and ids keep growing when every event of a session has been pruned.
///
/// The pending messages are found from a floor each commit moves past the ended ones
/// (``SQLitePendingFloor``), not through an index every message enters and leaves.
public final class SQLiteStore: Store {
    let pool: DatabasePool
    /// The database file.
    public let path: String
    /// Whether opening it upgraded a store an earlier release left (and reported progress).
    public let upgraded: Bool
    /// Where a start looks for pending messages, as the last commit left it.
    private let pendingFloor: Mutex<SQLitePendingFloor>
    /// The events not yet in the session index, the sessions' highest ids this process
    /// knows, and the next event's sequence (``SQLiteSessionIndex``).
    private let tail: Mutex<SQLiteSessionIndex.Tail>

    /// Opens (creating if needed) `baton.sqlite` in `directory`, upgrading a store an
    /// earlier release left; a long upgrade calls `upgradeProgress` as it goes.
    public init(directory: String, upgradeProgress: @escaping @Sendable (StoreUpgradeProgress) -> Void = { _ in }) throws {
        _ = Self.processSettings
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("baton.sqlite")
        var configuration = GRDB.Configuration()
        configuration.label = "baton.store"
        // A lock another connection holds is waited for, not an error at once: a store
        // closing as the next one opens (its last connection checkpoints and removes the
        // WAL under an exclusive lock), an admin's `sqlite3` session.
        configuration.busyMode = .timeout(Self.lockPatience)
        let pool = try DatabasePool(path: path, configuration: configuration)
        // GRDB sets `synchronous = NORMAL` when it turns WAL on, after prepareDatabase:
        // set FULL again on the one writer connection, so every commit is fsync'd.
        // `temp_store = MEMORY` keeps the statement and savepoint journals in memory: on
        // disk a commit's journal spilled past 64 KiB into a temporary file, opened,
        // written and removed per commit (when every commit still had a savepoint).
        // A 32 MiB page cache holds the pages every message touches (the tips of the
        // indexes, the sessions' newest events): with SQLite's 2 MiB each message read
        // three pages back from the file under load.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)")
        }
        // An upgrade that copied anything reported its progress.
        let upgraded = Mutex(false)
        try Self.migrator { progress in
            upgraded.withLock { $0 = true }
            upgradeProgress(progress)
        }.migrate(pool)
        self.upgraded = upgraded.withLock { $0 }
        if self.upgraded {
            // The copy went through the WAL: give its space back now, not at the next start.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        pendingFloor = Mutex(try pool.read { db in try SQLitePendingFloor(in: db) })
        // What earlier processes left above the index's watermark counts towards the next pass.
        tail = Mutex(try pool.read { db in try SQLiteSessionIndex.tail(in: db) })
        self.pool = pool
    }

    /// SQLite's process-wide settings, made once before the first connection opens: no
    /// memory statistics, whose mutex every allocation took (Baton never reads them).
    private static let processSettings: Void = {
        _ = baton_sqlite_disable_memory_statistics()
    }()

    /// Failures of the store as a whole, not of one group's writes: a commit that fails so is
    /// not tried again group by group.
    static let storeWideFailures: [ResultCode] = [
        .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_FULL, .SQLITE_IOERR, .SQLITE_READONLY, .SQLITE_CORRUPT,
        .SQLITE_NOTADB, .SQLITE_CANTOPEN, .SQLITE_NOMEM, .SQLITE_PROTOCOL,
    ]

    /// How long a statement waits for a lock another connection holds, in seconds.
    static let lockPatience: TimeInterval = 5

    /// The writer connection's page cache, in KiB.
    static let writerCacheKiB = 32 * 1024

    static func migrator(upgradeProgress: @escaping @Sendable (StoreUpgradeProgress) -> Void) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE messages (
                        id TEXT PRIMARY KEY NOT NULL,
                        sequence INTEGER NOT NULL UNIQUE,
                        session TEXT NOT NULL,
                        user TEXT NOT NULL,
                        text TEXT NOT NULL,
                        state TEXT NOT NULL,
                        ack_status TEXT NOT NULL,
                        ack_position INTEGER NOT NULL,
                        accepted_at REAL NOT NULL
                    );
                    CREATE INDEX messages_pending ON messages(sequence)
                        WHERE state IN ('queued', 'running', 'interrupted');
                    CREATE TABLE events (
                        session TEXT NOT NULL,
                        id INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        data TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        PRIMARY KEY (session, id)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v2-chat-networks") { db in
            try db.execute(
                sql: """
                    CREATE TABLE network_cursors (
                        network TEXT PRIMARY KEY NOT NULL,
                        cursor TEXT NOT NULL
                    );
                    CREATE TABLE deliveries (
                        network TEXT NOT NULL,
                        session TEXT NOT NULL,
                        event_id INTEGER NOT NULL,
                        PRIMARY KEY (network, session)
                    ) WITHOUT ROWID;
                    CREATE TABLE network_marks (
                        network TEXT NOT NULL,
                        mark TEXT NOT NULL,
                        PRIMARY KEY (network, mark)
                    ) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3-reply-ordinals") { db in
            // Replies stored per message: a turn run again skips the ones already there.
            try db.execute(sql: "ALTER TABLE messages ADD COLUMN replies INTEGER NOT NULL DEFAULT 0")
        }
        migrator.registerMigration("v4-retention") { db in
            // `sessions` gets a row only when pruning deletes a session's events, so there
            // is nothing to backfill: until then the events themselves hold the counter.
            // The index lets pruning find the oldest events without reading the others.
            try db.execute(
                sql: """
                    CREATE TABLE sessions (
                        session TEXT PRIMARY KEY NOT NULL,
                        pruned_through INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX events_created ON events(created_at);
                    """)
        }
        migrator.registerMigration("v5-pending-floor") { db in
            try SQLitePendingFloor.migrate(db)
        }
        migrator.registerMigration(SQLiteEventsInCommitOrder.migration) { db in
            try SQLiteEventsInCommitOrder.migrate(db, progress: upgradeProgress)
        }
        migrator.registerMigration("v7-mark-times") { db in
            // When a mark that expires was made; NULL for the ones kept for good.
            try db.execute(sql: "ALTER TABLE network_marks ADD COLUMN created_at REAL")
        }
        migrator.registerMigration("v8-deferred-session-index") { db in
            // Events waiting outside the session index, `indexed = 0`: superseded by v9.
            try db.execute(
                sql: """
                    ALTER TABLE events ADD COLUMN indexed INTEGER NOT NULL DEFAULT 1;
                    DROP INDEX events_session;
                    CREATE UNIQUE INDEX events_session ON events (session, id) WHERE indexed = 1;
                    CREATE INDEX events_unindexed ON events (sequence, session, id) WHERE indexed = 0;
                    """)
        }
        migrator.registerMigration(SQLiteSessionIndex.migration) { db in
            try SQLiteSessionIndex.migrate(db, progress: upgradeProgress)
        }
        migrator.registerMigration(SQLiteMessagesBySequence.migration) { db in
            try SQLiteMessagesBySequence.migrate(db, progress: upgradeProgress)
        }
        return migrator
    }

    // MARK: Reads

    /// The message stored under `id`, if any.
    public func message(id: String) throws -> Message? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM messages WHERE id = ?", arguments: [id]).map(Self.message)
        }
    }

    /// Messages that still owe their session a turn, in acceptance order: read from the
    /// pending floor on, and the parked ones (``SQLitePendingFloor``).
    public func pendingMessages() throws -> [Message] {
        try pool.read { db in
            try Row.fetchAll(db, sql: SQLitePendingFloor.pendingMessagesSQL).map(Self.message)
        }
    }

    /// The session's messages that still owe it a turn, in acceptance order.
    public func pendingMessages(session: String) throws -> [Message] {
        try pendingMessages().filter { $0.session == session }
    }

    /// The session's events with ids above `after`, oldest first.
    ///
    /// The session's places in the index's tail are read before the read transaction: an
    /// event committed in between is one this call need not see (the commit has not
    /// returned), and one the index took in between is found through it.
    public func events(session: String, after: Int64, limit: Int = 1000) throws -> [SessionEvent] {
        let tailSequences = tail.withLock { $0.sequences(of: session, after: after) }
        return try pool.read { db in
            try SQLiteSessionIndex.events(session: session, after: after, limit: limit, tailSequences: tailSequences, in: db)
        }
    }

    /// The highest event id of every session whose name starts with `prefix` and that has
    /// events stored (or had, until pruning took them): the index's
    /// (``SQLiteSessionIndex/highestIndexedIDs(from:to:in:)``), raised by the ids this
    /// process knows it committed (every session in the tail among them), read before the
    /// index (as ``events(session:after:limit:)`` reads the tail).
    public func lastEventIDs(sessionsStartingWith prefix: String) throws -> [String: Int64] {
        let known = tail.withLock { tail in tail.highestIDs.filter { session, _ in session.utf8.starts(with: prefix.utf8) } }
        var ids = try pool.read { db in try SQLiteSessionIndex.highestIndexedIDs(from: prefix, to: Self.end(ofPrefix: prefix), in: db) }
        ids.merge(known) { max($0, $1) }
        return ids
    }

    /// The least string above every string that starts with `prefix`, as SQLite compares
    /// text (bytewise): the prefix with its last byte raised. Nil when there is none that
    /// is UTF-8 (an empty prefix): then nothing bounds the read from above.
    static func end(ofPrefix prefix: String) -> String? {
        var bytes = Array(prefix.utf8)
        guard let last = bytes.popLast() else { return nil }
        bytes.append(last + 1)
        return String(validating: bytes, as: UTF8.self)
    }

    /// The highest event id the session has ever had, pruned ones included; 0 when none:
    /// the one this process knows it committed (read before the index, as
    /// ``events(session:after:limit:)`` reads the tail), or the index's.
    public func lastEventID(session: String) throws -> Int64 {
        let known = tail.withLock { $0.highestIDs[session] } ?? 0
        return max(known, try pool.read { db in try Self.lastIndexedEventID(session: session, in: db) })
    }

    /// The newest indexed event (an index lookup), and the newest pruned one: the highest
    /// id of a session with no events in the tail.
    static func lastIndexedEventID(session: String, in db: Database) throws -> Int64 {
        try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT MAX(\(SQLiteSessionIndex.highestIndexedID),
                               COALESCE((SELECT pruned_through FROM sessions WHERE session = ?1), 0))
                    """),
            arguments: [session]) ?? 0
    }

    /// The writer connection's `synchronous` setting (2 is FULL: every commit is synced).
    public func synchronousMode() throws -> Int {
        try pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Pages the writer connection has written to the WAL since the store opened (SQLite's
    /// `SQLITE_DBSTATUS_CACHE_WRITE`): what the commits cost the disk, for the benchmarks.
    package func pagesWritten() throws -> Int {
        pool.writeWithoutTransaction { db in
            var current: CInt = 0
            var highest: CInt = 0
            guard sqlite3_db_status(db.sqliteConnection, SQLITE_DBSTATUS_CACHE_WRITE, &current, &highest, 0) == SQLITE_OK else { return -1 }
            return Int(current)
        }
    }

    /// The highest message sequence number used, 0 for a new store.
    ///
    /// Not only the highest stored: retention may have deleted every message, the newest
    /// too, and numbers below the pending floor would never be read at a start again.
    public func lastSequence() throws -> Int64 {
        try pool.read { db in
            try Int64.fetchOne(
                db,
                sql: """
                    SELECT MAX(COALESCE((SELECT MAX(sequence) FROM messages), 0),
                               COALESCE((SELECT sequence FROM pending_floor), 1) - 1)
                    """) ?? 0
        }
    }

    /// How many messages are stored, in any state.
    public func messageCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0 }
    }

    // MARK: Chat networks

    /// The position a chat network reads its input from (a Matrix sync token), if stored.
    public func cursor(network: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT cursor FROM network_cursors WHERE network = ?", arguments: [network])
        }
    }

    /// The id of the last event delivered to each session of a chat network.
    public func deliveryPositions(network: String) throws -> [String: Int64] {
        try pool.read { db in
            var positions: [String: Int64] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT session, event_id FROM deliveries WHERE network = ?", arguments: [network])
            while let row = try rows.next() { positions[row["session"]] = row["event_id"] }
            return positions
        }
    }

    /// Whether a chat network recorded `mark` (a one-time notice it has given, say).
    public func hasMark(network: String, mark: String) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM network_marks WHERE network = ? AND mark = ?)", arguments: [network, mark]) ?? false
        }
    }

    // MARK: Writes

    /// What the gateway needs at start: the pending messages and the sequence number
    /// reached, both read through indexes, whatever the history's size.
    public func recovery() throws -> StoreRecovery {
        StoreRecovery(pending: try pendingMessages(), lastSequence: try lastSequence())
    }

    /// Commits the groups in one transaction: a failing group fails alone. Each appended
    /// event gets the session's next id.
    ///
    /// All groups are first tried as one plain transaction: a savepoint costs a copy of
    /// every page it changes, and SQLite prepares each `SAVEPOINT` and `RELEASE` anew.
    /// Only when that transaction fails (and so rolled back) because of a write (a
    /// constraint, say) are the groups applied again in a second one, a savepoint each, so
    /// a failing group fails alone; a failure of the whole store (locked, full, I/O) fails
    /// the commit at once.
    public func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        try await withTaskExecutorPreference(Self.commitThread) { try await commitOnCommitThread(groups) }
    }

    /// The thread every SQLite store of the process commits on: a commit blocks it for
    /// the transaction and its fsync.
    static let commitThread = DedicatedThreadExecutor(name: "baton-store")

    public var commitExecutor: (any TaskExecutor)? { Self.commitThread }

    /// ``commit(_:)`` on ``commitThread``: GRDB's synchronous write runs there, with no
    /// hop to GRDB's writer queue and back. An async function of its own, as entering
    /// one is where a task moves to its preferred executor; ``commitBlocking(_:)`` is
    /// synchronous, so that GRDB's synchronous `write` is the one it calls.
    private func commitOnCommitThread(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        try commitBlocking(groups)
    }

    private func commitBlocking(_ groups: [[StoreWrite]]) throws -> [Result<[SessionEvent], any Error>] {
        // A session's newest event, when this process knows it (``SQLiteSessionIndex/Tail``).
        let lookup: @Sendable (String) -> Int64? = { [self] session in tail.withLock { $0.highestIDs[session] } }
        let (firstSequence, due) = tail.withLock { ($0.nextSequence, $0.isDue) }
        var indexing = due
        let (results, placed, nextSequence): ([Result<[SessionEvent], any Error>], [SQLiteSessionIndex.Placed], Int64)
        do {
            let floor: SQLitePendingFloor
            (results, placed, floor, nextSequence) = try pool.writeWithoutTransaction { [self] db in
                try Self.inTransaction(db) {
                    if indexing { try SQLiteSessionIndex.indexTail(through: firstSequence - 1, in: db) }
                    var batch = SQLiteWriteBatch(committedLastEventID: lookup, nextSequence: firstSequence)
                    let results: [Result<[SessionEvent], any Error>] = try groups.map { writes in
                        .success(try writes.compactMap { try batch.apply($0, in: db) })
                    }
                    try batch.finish(in: db)
                    return (results, batch.placed, try pendingFloor.withLock { $0 }.raised(in: db), batch.nextSequence)
                }
            }
            // Only once committed: a floor past a parked row that was rolled back could lose it.
            pendingFloor.withLock { $0 = floor }
        } catch let error as DatabaseError where Self.storeWideFailures.contains(error.resultCode) {
            tail.withLock { $0.postponeIndexing() }
            throw error  // every group would fail the same way, after the same wait
        } catch {
            // Group by group, without indexing; should the indexing be what failed, the next
            // commits go without it for a while too.
            if indexing { tail.withLock { $0.postponeIndexing() } }
            indexing = false
            (results, placed, nextSequence) = try pool.write { db in
                var assigned: [String: Int64] = [:]
                var placed: [SQLiteSessionIndex.Placed] = []
                var nextSequence = firstSequence
                let results = groups.map { writes -> Result<[SessionEvent], any Error> in
                    var batch = SQLiteWriteBatch(committedLastEventID: lookup, assigned: assigned, nextSequence: nextSequence)
                    do {
                        var events: [SessionEvent] = []
                        try db.inSavepoint {
                            events = try writes.compactMap { try batch.apply($0, in: db) }
                            try batch.finish(in: db)
                            return .commit
                        }
                        assigned = batch.lastEventIDs
                        placed += batch.placed
                        nextSequence = batch.nextSequence
                        return .success(events)
                    } catch {
                        return .failure(error)
                    }
                }
                return (results, placed, nextSequence)
            }
        }
        tail.withLock { tail in
            tail.add(placed, afterIndexing: indexing)
            tail.nextSequence = max(tail.nextSequence, nextSequence)
        }
        return results
    }

    /// Runs `body` in one immediate transaction, as GRDB's `write` does, with its `BEGIN`
    /// and `COMMIT` prepared once: GRDB prepares them anew for every transaction.
    /// Rolled back when `body` or the commit throws.
    private static func inTransaction<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "BEGIN IMMEDIATE").execute()
        do {
            let result = try body()
            try db.cachedStatement(sql: "COMMIT").execute()
            return result
        } catch {
            if db.isInsideTransaction { try db.execute(sql: "ROLLBACK") }
            throw error
        }
    }

    // MARK: Retention

    /// One batch of pruning in one transaction of its own on GRDB's writer: it waits its
    /// turn behind the ``StoreWriter``'s commit in progress and holds the writer for one
    /// small transaction, so a commit waits at most one batch.
    public func prune(before cutoff: Date, after: Int64, limit: Int) async throws -> StorePruning {
        try await pool.write { db in
            let candidates = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT id, sequence, state, accepted_at FROM messages WHERE sequence > ? ORDER BY sequence LIMIT ?"),
                arguments: [after, limit]
            ).map { row in
                StorePruning.Candidate(
                    id: row["id"], sequence: row["sequence"], state: MessageState(rawValue: row["state"]) ?? .queued,
                    acceptedAt: Date(timeIntervalSince1970: row["accepted_at"]))
            }
            let plan = StorePruning.plan(candidates, before: cutoff, after: after, limit: limit)
            let deleteMessage = try db.cachedStatement(
                sql: "DELETE FROM messages WHERE id = ? AND state IN ('done', 'failed', 'cancelled')")
            var messages = 0
            for id in plan.delete {
                try deleteMessage.execute(arguments: [id])
                messages += db.changesCount
            }

            // The oldest events: the first `limit` in commit order, those of them older
            // than the cutoff (a clock set back may leave a newer one among them). Each
            // session's highest deleted id is kept first, so its next event gets a higher one.
            let oldest = try Row.fetchAll(
                db.cachedStatement(sql: "SELECT sequence, session, id, created_at FROM events ORDER BY sequence LIMIT ?"),
                arguments: [limit])
            let old = oldest.filter { ($0["created_at"] as Double) < cutoff.timeIntervalSince1970 }.map {
                (sequence: $0["sequence"] as Int64, session: $0["session"] as String, id: $0["id"] as Int64)
            }
            var highest: [String: Int64] = [:]
            for event in old { highest[event.session] = max(highest[event.session] ?? 0, event.id) }
            let raise = try db.cachedStatement(
                sql: """
                    INSERT INTO sessions (session, pruned_through) VALUES (?, ?)
                    ON CONFLICT (session) DO UPDATE SET pruned_through = MAX(pruned_through, excluded.pruned_through)
                    """)
            for (session, id) in highest { try raise.execute(arguments: [session, id]) }
            let deleteEvent = try db.cachedStatement(sql: "DELETE FROM events WHERE sequence = ?")
            for event in old {
                try deleteEvent.execute(arguments: [event.sequence])
                try SQLiteSessionIndex.forget(session: event.session, id: event.id, sequence: event.sequence, in: db)
            }

            // Marks that expire, older than the cutoff (a few rows: no index).
            try db.cachedStatement(
                sql: """
                    DELETE FROM network_marks WHERE (network, mark) IN (
                        SELECT network, mark FROM network_marks WHERE created_at < ? LIMIT ?)
                    """
            ).execute(arguments: [cutoff.timeIntervalSince1970, limit])
            let marks = db.changesCount

            return StorePruning(
                messages: messages, events: old.count, examinedThrough: plan.examinedThrough,
                hasMore: plan.hasMore || (oldest.count >= limit && !old.isEmpty) || marks >= limit)
        }
    }

    private static func message(_ row: Row) -> Message {
        let id: String = row["id"]
        let session: String = row["session"]
        return Message(
            id: id,
            sequence: row["sequence"],
            session: session,
            user: row["user"],
            text: row["text"],
            state: MessageState(rawValue: row["state"]) ?? .queued,
            acknowledgement: Acknowledgement(
                id: id, session: session,
                status: Acknowledgement.Status(rawValue: row["ack_status"]) ?? .queued,
                position: row["ack_position"]),
            acceptedAt: Date(timeIntervalSince1970: row["accepted_at"]),
            replies: row["replies"]
        )
    }
}
