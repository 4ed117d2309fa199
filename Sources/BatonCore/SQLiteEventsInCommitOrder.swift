import GRDB

/// The upgrade that keeps events in the order they were committed (a rowid table), found
/// by session through an index, where a store before it kept them in session order (their
/// primary key).
///
/// A commit then appends its events at the end of the table and adds a short entry per
/// event to the index: under load less than half the pages written per commit, where each
/// session's events lay in a leaf of their own (bench/README.md, "store"). The commit
/// order also lets pruning take the oldest events from the start of the table, with no
/// index on `created_at` to keep up.
///
/// The copy runs once, at the first start after the upgrade, in one transaction (a start
/// cut short begins it again), in chunks, oldest first, reporting its progress between
/// them.
enum SQLiteEventsInCommitOrder {
    static let migration = "v6-events-in-commit-order"
    /// Events copied per statement: each takes well under a second.
    static let chunk = 100_000

    /// Copies the events in commit order; `progress` hears of each step unless there is
    /// nothing to copy (a new store).
    static func migrate(_ db: Database, progress: (StoreUpgradeProgress) -> Void) throws {
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
        try db.execute(
            sql: """
                CREATE TABLE events_in_commit_order (
                    sequence INTEGER PRIMARY KEY,
                    session TEXT NOT NULL,
                    id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    data TEXT NOT NULL,
                    created_at REAL NOT NULL
                )
                """)
        // Oldest first, through the `created_at` index (whose entries end with the
        // primary key), from where the last chunk stopped.
        let copy = try db.makeStatement(
            sql: """
                INSERT INTO events_in_commit_order (session, id, kind, data, created_at)
                SELECT session, id, kind, data, created_at FROM events
                WHERE (created_at, session, id) > (?, ?, ?)
                ORDER BY created_at, session, id LIMIT \(chunk)
                """)
        var after: StatementArguments = [-Double.greatestFiniteMagnitude, "", Int64.min]
        try StoreUpgradeProgress.copyInChunks("events put in commit order", total: total, progress: progress) {
            try copy.execute(arguments: after)
            let copied = db.changesCount
            if copied > 0,
                let last = try Row.fetchOne(
                    db, sql: "SELECT created_at, session, id FROM events_in_commit_order WHERE sequence = ?", arguments: [db.lastInsertedRowID])
            {
                after = [last["created_at"] as Double, last["session"] as String, last["id"] as Int64]
            }
            return copied
        }
        try db.execute(
            sql: """
                DROP TABLE events;
                ALTER TABLE events_in_commit_order RENAME TO events;
                CREATE UNIQUE INDEX events_session ON events (session, id);
                """)
    }
}
