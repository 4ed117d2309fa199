import GRDB

/// How events are found by session: a table of their own, `event_index`, filled in bulk,
/// not one entry per event as it commits.
///
/// An index entry per event dirtied a leaf of its own (the sessions of one commit lie all
/// over the index): under load about one 4 KiB page written to the WAL, synced and
/// checkpointed per message. Events are instead appended to `events` (a rowid table in
/// commit order) and nothing else; once ``threshold`` of them lie above the *watermark*
/// (the sequence through which events are indexed), the commit that finds so copies them
/// into `event_index` in its own order, each session's leaf written once for all its new
/// entries, and moves the watermark. No event row is written twice.
///
/// The events above the watermark, the *tail*, are read by scanning them (a rowid range,
/// about ``threshold`` rows at most), and only for a session the store knows has events
/// there (``Tail``); a session's older events through the index.
enum SQLiteSessionIndex {
    static let migration = "v9-session-index-table"
    /// Events in the tail before they are indexed together.
    static let threshold = 8192

    /// What the writer knows of the events above the watermark.
    struct Tail: Sendable {
        /// Events committed above the watermark.
        var count = 0
        /// The highest id of each session among them.
        var highestIDs: [String: Int64] = [:]
        /// The sequence the next event is stored under. Assigned here rather than by
        /// SQLite (one above the highest rowid), which would reuse the sequences of the
        /// newest events after pruning deleted them, below the watermark.
        var nextSequence: Int64 = 1

        /// Whether the next commit indexes the tail.
        var isDue: Bool { count >= SQLiteSessionIndex.threshold }

        /// Takes the events a commit appended (`count` of them, their sessions' highest
        /// ids `assigned`); after an indexing commit, they are the whole tail.
        mutating func add(count: Int, assigned: [String: Int64], afterIndexing: Bool) {
            if afterIndexing {
                self.count = 0
                highestIDs = [:]
            }
            self.count += count
            highestIDs.merge(assigned) { max($0, $1) }
        }

        /// The indexing commit failed as a whole (a full disk): the next commits go
        /// without it for a while, as a full disk may take them but not it.
        mutating func postponeIndexing() {
            count = min(count, SQLiteSessionIndex.threshold / 2)
        }
    }

    /// Builds the index table from every stored event, and drops what the store before
    /// kept for it (``migration``: the `events_session` index of the indexed events, the
    /// small index of the waiting ones, and their `indexed` column).
    static func migrate(_ db: Database, progress: (StoreUpgradeProgress) -> Void) throws {
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
        if total > 0 { progress(StoreUpgradeProgress(step: "events indexed by session", done: 0, total: total)) }
        try db.execute(
            sql: """
                CREATE TABLE event_index (
                    session TEXT NOT NULL,
                    id INTEGER NOT NULL,
                    sequence INTEGER NOT NULL,
                    PRIMARY KEY (session, id)
                ) WITHOUT ROWID;
                INSERT OR IGNORE INTO event_index (session, id, sequence)
                    SELECT session, id, sequence FROM events ORDER BY session, id;
                CREATE TABLE event_index_watermark (
                    only INTEGER PRIMARY KEY CHECK (only = 1),
                    sequence INTEGER NOT NULL
                );
                INSERT INTO event_index_watermark (only, sequence) VALUES (1, (SELECT COALESCE(MAX(sequence), 0) FROM events));
                DROP INDEX events_session;
                DROP INDEX events_unindexed;
                ALTER TABLE events DROP COLUMN indexed;
                """)
        if total > 0 { progress(StoreUpgradeProgress(step: "events indexed by session", done: total, total: total)) }
    }

    /// The tail as the store holds it, read at the start: a scan of the events above the
    /// watermark. A session's highest id is raised to the highest that pruning deleted:
    /// with the clock set back, pruning may have taken a newer event and left an older one.
    static func tail(in db: Database) throws -> Tail {
        var tail = Tail()
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT session, MAX(last, COALESCE((SELECT pruned_through FROM sessions WHERE sessions.session = tail.session), 0)) AS last, count
                FROM (
                    SELECT session, MAX(id) AS last, COUNT(*) AS count FROM events
                    WHERE sequence > (SELECT sequence FROM event_index_watermark) GROUP BY session
                ) AS tail
                """)
        while let row = try rows.next() {
            tail.highestIDs[row["session"]] = row["last"]
            tail.count += row["count"] as Int
        }
        tail.nextSequence =
            try Int64.fetchOne(
                db,
                sql: "SELECT MAX(COALESCE((SELECT MAX(sequence) FROM events), 0), (SELECT sequence FROM event_index_watermark)) + 1"
            ) ?? 1
        return tail
    }

    /// Copies the tail through the sequence `through` (the last the writer handed out
    /// before this commit) into the index, in the index's order, and moves the watermark
    /// to it. A copy of an event already indexed (the same session and id, which no commit
    /// should make) is left out rather than failing the commit and every one after it.
    static func indexTail(through: Int64, in db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT OR IGNORE INTO event_index (session, id, sequence)
                SELECT session, id, sequence FROM events
                WHERE sequence > (SELECT sequence FROM event_index_watermark) AND sequence <= ?
                ORDER BY session, id
                """
        ).execute(arguments: [through])
        try db.cachedStatement(sql: "UPDATE event_index_watermark SET sequence = MAX(sequence, ?)").execute(arguments: [through])
    }

    /// The session's events with ids above `after`, oldest first: the indexed ones, then,
    /// when `inTail`, the ones above the watermark.
    static func events(session: String, after: Int64, limit: Int, inTail: Bool, in db: Database) throws -> [SessionEvent] {
        func read(_ sql: String, limit: Int) throws -> [SessionEvent] {
            try Row.fetchAll(db.cachedStatement(sql: sql), arguments: [session, after, limit]).map { row in
                SessionEvent(session: session, id: row["id"], kind: SessionEvent.Kind(rawValue: row["kind"]) ?? .notice, data: row["data"])
            }
        }
        let indexed = try read(
            """
            SELECT event_index.id, kind, data FROM event_index JOIN events USING (sequence)
            WHERE event_index.session = ? AND event_index.id > ? ORDER BY event_index.id LIMIT ?
            """, limit: limit)
        guard inTail, indexed.count < limit else { return indexed }
        return indexed
            + (try read(
                """
                SELECT id, kind, data FROM events
                WHERE sequence > (SELECT sequence FROM event_index_watermark) AND session = ? AND id > ?
                ORDER BY sequence LIMIT ?
                """, limit: limit - indexed.count))
    }

    /// The highest id of every indexed session whose name is in [`from`, `to`) (no upper
    /// bound when `to` is nil).
    ///
    /// A loose index scan: each step seeks the next session name in the index, then its
    /// highest id, so the cost follows the number of such sessions, not of their events
    /// (a `GROUP BY` read every entry).
    static func highestIndexedIDs(from: String, to: String?, in db: Database) throws -> [String: Int64] {
        var ids: [String: Int64] = [:]
        let rows = try Row.fetchCursor(
            db,
            sql: """
                WITH RECURSIVE found(session) AS (
                    SELECT (SELECT MIN(session) FROM event_index WHERE session >= ?1)
                    UNION ALL
                    SELECT (SELECT MIN(session) FROM event_index WHERE session > found.session)
                    FROM found WHERE found.session IS NOT NULL AND (?2 IS NULL OR found.session < ?2)
                )
                SELECT session, (SELECT MAX(id) FROM event_index WHERE event_index.session = found.session) AS last
                FROM found WHERE session IS NOT NULL AND session >= ?1 AND (?2 IS NULL OR session < ?2)
                """,
            arguments: [from, to])
        while let row = try rows.next() { ids[row["session"]] = row["last"] }
        return ids
    }

    /// The highest indexed id of the session `?1`, as an SQL expression.
    static let highestIndexedID = "COALESCE((SELECT MAX(id) FROM event_index WHERE session = ?1), 0)"

    /// Removes a pruned event's entry from the index (none when it was in the tail).
    static func forget(session: String, id: Int64, sequence: Int64, in db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM event_index WHERE session = ? AND id = ? AND sequence = ?").execute(
            arguments: [session, id, sequence])
    }
}
