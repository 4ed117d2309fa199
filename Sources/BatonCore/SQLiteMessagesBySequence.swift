import GRDB

/// The upgrade that keeps messages under their sequence (the rowid), found by id through
/// an index, where a store before it kept them under a rowid of SQLite's own with two
/// indexes beside it, one for the id and one for the sequence.
///
/// A message inserted then enters two trees, not three, each at its end (sequences grow,
/// and so do the ids Baton makes): under load one page less written per commit. Reads
/// in acceptance order (the pending floor, pruning) walk the table itself.
///
/// The copy runs once, at the first start after the upgrade, in one transaction (a start
/// cut short begins it again), in chunks in sequence order, reporting its progress
/// between them.
enum SQLiteMessagesBySequence {
    static let migration = "v10-messages-by-sequence"
    /// Messages copied per statement: each takes well under a second.
    static let chunk = 100_000

    /// Copies the messages; `progress` hears of each step unless there is nothing to copy
    /// (a new store).
    static func migrate(_ db: Database, progress: (StoreUpgradeProgress) -> Void) throws {
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM messages") ?? 0
        try db.execute(
            sql: """
                CREATE TABLE messages_by_sequence (
                    sequence INTEGER PRIMARY KEY,
                    id TEXT NOT NULL UNIQUE,
                    session TEXT NOT NULL,
                    user TEXT NOT NULL,
                    text TEXT NOT NULL,
                    state TEXT NOT NULL,
                    ack_status TEXT NOT NULL,
                    ack_position INTEGER NOT NULL,
                    accepted_at REAL NOT NULL,
                    replies INTEGER NOT NULL DEFAULT 0
                )
                """)
        let copy = try db.makeStatement(
            sql: """
                INSERT INTO messages_by_sequence (sequence, id, session, user, text, state, ack_status, ack_position, accepted_at, replies)
                SELECT sequence, id, session, user, text, state, ack_status, ack_position, accepted_at, replies FROM messages
                WHERE sequence > ? ORDER BY sequence LIMIT \(chunk)
                """)
        var after = Int64.min
        try StoreUpgradeProgress.copyInChunks("messages put in sequence order", total: total, progress: progress) {
            try copy.execute(arguments: [after])
            after = db.lastInsertedRowID
            return db.changesCount
        }
        try db.execute(
            sql: """
                DROP TABLE messages;
                ALTER TABLE messages_by_sequence RENAME TO messages;
                """)
    }
}
