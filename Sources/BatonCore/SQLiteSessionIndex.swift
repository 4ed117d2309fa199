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
/// The events above the watermark, the *tail*, are found by their places, which the
/// writer keeps in memory (``Tail``, read from the tail at the start); a session's older
/// events through the index.
enum SQLiteSessionIndex {
    static let migration = "v9-session-index-table"
    /// Events in the tail before they are indexed together.
    static let threshold = 8192

    /// An event as stored: its session and id, and its place in `events`.
    struct Placed: Sendable {
        var session: String
        var id: Int64
        var sequence: Int64
    }

    /// What the writer knows of the events above the watermark: where each is, so that a
    /// read finds a session's events there by their place, not by scanning the tail.
    struct Tail: Sendable {
        /// Events committed above the watermark.
        var count = 0
        /// The highest id of each session with events among them, and of the sessions
        /// written to before the last indexing, up to ``rememberedSessions``: only this
        /// process appends to its store, so these are the truth, and the next event of
        /// such a session reads nothing. A session forgotten costs one index lookup.
        var highestIDs: [String: Int64] = [:]
        /// Each session's events among them, by id, with their places.
        var places: [String: [(id: Int64, sequence: Int64)]] = [:]
        /// The sequence the next event is stored under. Assigned here rather than by
        /// SQLite (one above the highest rowid), which would reuse the sequences of the
        /// newest events after pruning deleted them, below the watermark.
        var nextSequence: Int64 = 1

        /// Whether the next commit indexes the tail.
        var isDue: Bool { count >= SQLiteSessionIndex.threshold }

        /// Sessions whose highest ids are kept past an indexing, before they start again
        /// empty: what is kept follows the sessions in use, not the history.
        static let rememberedSessions = 50_000

        /// Takes the events a commit appended; after an indexing commit, they are the
        /// whole tail. The highest ids are forgotten only then (every session in the
        /// tail must be among them).
        mutating func add(_ placed: [Placed], afterIndexing: Bool) {
            if afterIndexing {
                count = 0
                places = [:]
                if highestIDs.count > Self.rememberedSessions { highestIDs = [:] }
            }
            for event in placed {
                count += 1
                highestIDs[event.session] = max(highestIDs[event.session] ?? 0, event.id)
                places[event.session, default: []].append((event.id, event.sequence))
            }
        }

        /// Where the session's events with ids above `after` lie in the tail, oldest first.
        func sequences(of session: String, after: Int64) -> [Int64] {
            guard let placed = places[session] else { return [] }
            // From the end: the events read are mostly the newest.
            let first = placed.lastIndex { $0.id <= after }.map { $0 + 1 } ?? placed.startIndex
            return placed[first...].map(\.sequence)
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

    /// The tail as the store holds it, read at the start: the events above the watermark,
    /// in commit order. A session's highest id is raised to the highest that pruning
    /// deleted: with the clock set back, pruning may have taken a newer event and left an
    /// older one.
    static func tail(in db: Database) throws -> Tail {
        var tail = Tail()
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT session, id, sequence, COALESCE(pruned_through, 0) AS pruned FROM events LEFT JOIN sessions USING (session)
                WHERE sequence > (SELECT sequence FROM event_index_watermark) ORDER BY sequence
                """)
        var placed: [Placed] = []
        var pruned: [String: Int64] = [:]
        while let row = try rows.next() {
            let session: String = row["session"]
            placed.append(Placed(session: session, id: row["id"], sequence: row["sequence"]))
            pruned[session] = row["pruned"]
        }
        tail.add(placed, afterIndexing: true)
        tail.highestIDs.merge(pruned) { max($0, $1) }
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

    /// The session's events with ids above `after`, oldest first: the indexed ones, then
    /// the ones at `tailSequences` (its places in the tail, read before this transaction:
    /// one the index took meanwhile is found there, and not twice).
    static func events(session: String, after: Int64, limit: Int, tailSequences: [Int64], in db: Database) throws -> [SessionEvent] {
        func event(_ row: Row) -> SessionEvent {
            SessionEvent(session: session, id: row["id"], kind: SessionEvent.Kind(rawValue: row["kind"]) ?? .notice, data: row["data"])
        }
        var events = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT event_index.id, kind, data FROM event_index JOIN events USING (sequence)
                    WHERE event_index.session = ? AND event_index.id > ? ORDER BY event_index.id LIMIT ?
                    """),
            arguments: [session, after, limit]
        ).map(event)
        let newest = events.last?.id ?? after
        let placed = try db.cachedStatement(sql: "SELECT id, kind, data FROM events WHERE sequence = ? AND session = ? AND id > ?")
        for sequence in tailSequences where events.count < limit {
            // None when pruning deleted it.
            if let row = try Row.fetchOne(placed, arguments: [sequence, session, newest]) { events.append(event(row)) }
        }
        return events
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
