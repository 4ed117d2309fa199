import Foundation
import GRDB

/// A `baton.sqlite` as an earlier release left it, for upgrade tests: the schema through
/// that release's last migration, with whatever the test puts in it.
public enum EarlierSQLiteStore {
    /// The last migration an earlier release ran.
    public enum Release: Int, Sendable {
        /// Before retention: no `sessions` table, no index on the events' age.
        case v3 = 3
        /// Before the pending floor: a partial index of the pending messages.
        case v4
        /// Before events were kept in commit order: events in session order.
        case v5
    }

    /// An event as those releases stored it.
    public struct Event: Sendable {
        public var session: String
        public var id: Int64
        public var data: String
        public var createdAt: Double

        public init(session: String, id: Int64, data: String, createdAt: Double) {
            self.session = session
            self.id = id
            self.data = data
            self.createdAt = createdAt
        }
    }

    /// Writes the store `release` left into `directory`, then runs `fill` on it.
    public static func write(in directory: String, release: Release, fill: (Database) throws -> Void = { _ in }) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let database = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("baton.sqlite"))
        try database.write { db in
            try db.execute(sql: schema(release))
            try fill(db)
        }
        try database.close()
    }

    /// Writes the store v5 left into `directory` with `events` (replies) and no messages;
    /// `prunedThrough` gives sessions whose older events pruning deleted.
    public static func write(in directory: String, events: [Event], prunedThrough: [String: Int64] = [:]) throws {
        try write(in: directory, release: .v5) { db in
            for event in events {
                try db.execute(
                    sql: "INSERT INTO events (session, id, kind, data, created_at) VALUES (?, ?, 'reply', ?, ?)",
                    arguments: [event.session, event.id, event.data, event.createdAt])
            }
            for (session, id) in prunedThrough {
                try db.execute(sql: "INSERT INTO sessions (session, pruned_through) VALUES (?, ?)", arguments: [session, id])
            }
        }
    }

    static func schema(_ release: Release) -> String {
        let migrations = ["v1", "v2-chat-networks", "v3-reply-ordinals", "v4-retention", "v5-pending-floor"].prefix(release.rawValue)
        var sql = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES \(migrations.map { "('\($0)')" }.joined(separator: ", "));
            CREATE TABLE messages (
                id TEXT PRIMARY KEY NOT NULL, sequence INTEGER NOT NULL UNIQUE, session TEXT NOT NULL,
                user TEXT NOT NULL, text TEXT NOT NULL, state TEXT NOT NULL, ack_status TEXT NOT NULL,
                ack_position INTEGER NOT NULL, accepted_at REAL NOT NULL, replies INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE events (
                session TEXT NOT NULL, id INTEGER NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL,
                created_at REAL NOT NULL, PRIMARY KEY (session, id)) WITHOUT ROWID;
            CREATE TABLE network_cursors (network TEXT PRIMARY KEY NOT NULL, cursor TEXT NOT NULL);
            CREATE TABLE deliveries (
                network TEXT NOT NULL, session TEXT NOT NULL, event_id INTEGER NOT NULL,
                PRIMARY KEY (network, session)) WITHOUT ROWID;
            CREATE TABLE network_marks (network TEXT NOT NULL, mark TEXT NOT NULL, PRIMARY KEY (network, mark)) WITHOUT ROWID;

            """
        if release < .v5 {
            sql += "CREATE INDEX messages_pending ON messages(sequence) WHERE state IN ('queued', 'running', 'interrupted');\n"
        }
        if release >= .v4 {
            sql += """
                CREATE TABLE sessions (session TEXT PRIMARY KEY NOT NULL, pruned_through INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX events_created ON events(created_at);

                """
        }
        if release >= .v5 {
            sql += """
                CREATE TABLE pending_floor (only INTEGER PRIMARY KEY CHECK (only = 1), sequence INTEGER NOT NULL);
                CREATE TABLE parked_messages (sequence INTEGER PRIMARY KEY);
                INSERT INTO pending_floor (only, sequence) VALUES (1, 1);

                """
        }
        return sql
    }
}

extension EarlierSQLiteStore.Release: Comparable {
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
