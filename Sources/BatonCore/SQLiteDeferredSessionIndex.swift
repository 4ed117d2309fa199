import GRDB

/// Events enter the index that finds them by session in bulk, not one by one as they
/// commit.
///
/// One at a time, each event dirtied a leaf of `events_session` of its own (the sessions
/// of one commit lie all over the index): under load about one 4 KiB page written to the
/// WAL, synced and checkpointed per message. Events are instead committed with
/// `indexed = 0`, outside that (partial) index, at the end of a small one in their commit
/// order (`events_unindexed`, which holds their session and id too), and enter
/// `events_session` together once ``threshold`` of them wait, in the transaction of the
/// commit that finds so: each session's leaf is then written once for all its waiting
/// events. That commit takes longer (a few milliseconds under full load).
///
/// Reads by session look in both places: the index for a session's older events (they
/// are indexed in commit order, so the indexed ones come first), then the waiting ones,
/// found by reading `events_unindexed` alone, about ``threshold`` entries at most.
enum SQLiteDeferredSessionIndex {
    static let migration = "v8-deferred-session-index"
    /// Events waiting before they are indexed together.
    static let threshold = 8192

    /// Every event stored so far is indexed; new ones wait.
    static func migrate(_ db: Database) throws {
        try db.execute(
            sql: """
                ALTER TABLE events ADD COLUMN indexed INTEGER NOT NULL DEFAULT 1;
                DROP INDEX events_session;
                CREATE UNIQUE INDEX events_session ON events (session, id) WHERE indexed = 1;
                CREATE INDEX events_unindexed ON events (sequence, session, id) WHERE indexed = 0;
                """)
    }

    /// How many events wait (a count over `events_unindexed` alone).
    static func waiting(in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE indexed = 0") ?? 0
    }

    /// Indexes the waiting events; returns how many still wait. Only a copy of an event
    /// already indexed (the same session and id, which no commit should make) is left
    /// waiting, rather than failing the commit and every one after it.
    static func indexWaiting(in db: Database) throws -> Int {
        try db.cachedStatement(sql: "UPDATE OR IGNORE events SET indexed = 1 WHERE indexed = 0").execute()
        return try waiting(in: db)
    }

    /// The session's events with ids above `after`, oldest first: the indexed ones, then
    /// the waiting ones.
    static func events(session: String, after: Int64, limit: Int, in db: Database) throws -> [SessionEvent] {
        func read(_ sql: String, limit: Int) throws -> [SessionEvent] {
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: [session, after, limit]).map { row in
                SessionEvent(session: session, id: row["id"], kind: SessionEvent.Kind(rawValue: row["kind"]) ?? .notice, data: row["data"])
            }
        }
        let indexed = try read("SELECT id, kind, data FROM events WHERE session = ? AND id > ? AND indexed = 1 ORDER BY id LIMIT ?", limit: limit)
        guard indexed.count < limit else { return indexed }
        return indexed
            + (try read(
                "SELECT id, kind, data FROM events WHERE indexed = 0 AND session = ? AND id > ? ORDER BY sequence LIMIT ?",
                limit: limit - indexed.count))
    }

    /// The highest id among the session's stored events, indexed or waiting (the bound on
    /// ids pruning keeps is the caller's), as an SQL expression of the session `?1`.
    static let highestStoredID = """
        MAX(COALESCE((SELECT MAX(id) FROM events WHERE session = ?1 AND indexed = 1), 0),
            COALESCE((SELECT MAX(id) FROM events WHERE indexed = 0 AND session = ?1), 0))
        """

    /// The highest id of each session with waiting events whose name is in [`from`, `to`)
    /// (no upper bound when `to` is nil).
    static func highestWaitingIDs(from: String, to: String?, in db: Database) throws -> [String: Int64] {
        var ids: [String: Int64] = [:]
        let rows = try Row.fetchCursor(
            db,
            sql: "SELECT session, MAX(id) AS last FROM events WHERE indexed = 0 AND session >= ?1 AND (?2 IS NULL OR session < ?2) GROUP BY session",
            arguments: [from, to])
        while let row = try rows.next() { ids[row["session"]] = row["last"] }
        return ids
    }
}
