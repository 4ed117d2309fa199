import GRDB
import GRDBSQLite

/// Where a start looks for the messages that still owe their session a turn, without an
/// index every message enters and leaves.
///
/// Every message below the floor has ended, or is parked: a message still pending long
/// after newer ones ended (a slow turn, a deep queue) gets a row in `parked_messages`, and
/// the floor moves on past it. A start reads the messages from the floor on, and the
/// parked ones, so its cost follows what is pending and recent, never the history.
///
/// Each commit moves the floor over the messages that ended since the last one: about one
/// row read per message, where a partial index of pending messages cost an index insert
/// and delete per message, a quarter of the store's time (bench/README.md, "store").
/// The floor kept on disk may lag the one in memory by up to ``storeEvery`` messages: a
/// start reads those again, and finds none of them pending.
struct SQLitePendingFloor: Sendable {
    /// The first sequence number that may be pending and is not parked, as far as this
    /// process has moved it.
    private(set) var floor: Int64
    /// The floor as `pending_floor` holds it.
    private(set) var stored: Int64

    /// How far behind the newest message a pending one gets parked.
    static let parkDistance: Int64 = 4096
    /// Rows read per commit at most.
    static let scanLimit = 1024
    /// How far the floor moves before it is written, and parked rows of ended messages cleared.
    static let storeEvery: Int64 = 512

    /// The floor as stored.
    init(in db: Database) throws {
        floor = try Int64.fetchOne(db, sql: "SELECT sequence FROM pending_floor") ?? 1
        stored = floor
    }

    /// The migration to the floor: it starts at the oldest pending message.
    static func migrate(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE pending_floor (
                    only INTEGER PRIMARY KEY CHECK (only = 1),
                    sequence INTEGER NOT NULL
                );
                CREATE TABLE parked_messages (sequence INTEGER PRIMARY KEY);
                INSERT INTO pending_floor (only, sequence) VALUES (1, COALESCE(
                    (SELECT MIN(sequence) FROM messages WHERE \(pendingCondition)),
                    (SELECT COALESCE(MAX(sequence), 0) + 1 FROM messages)));
                DROP INDEX messages_pending;
                """)
    }

    /// The SQL condition a pending message meets.
    static let pendingCondition = "state IN (\(MessageState.pending.map { "'\($0.rawValue)'" }.joined(separator: ", ")))"

    /// The pending messages, in acceptance order: those from the floor on, and the parked ones.
    static let pendingMessagesSQL = """
        SELECT * FROM messages
        WHERE sequence >= (SELECT sequence FROM pending_floor) AND \(pendingCondition)
        UNION ALL
        SELECT * FROM messages
        WHERE sequence IN (SELECT sequence FROM parked_messages WHERE sequence < (SELECT sequence FROM pending_floor))
            AND \(pendingCondition)
        ORDER BY sequence
        """

    /// Moves the floor past the messages that ended, parking the pending ones far behind
    /// the newest, in the transaction of a commit. The caller keeps the result only if that
    /// transaction commits.
    func raised(in db: Database) throws -> SQLitePendingFloor {
        var newest: Int64 = 0
        try db.cachedStatement(sql: "SELECT MAX(sequence) FROM messages").forEachRow { row in
            newest = sqlite3_column_int64(row, 0)
            return false
        }
        var next = self
        var parked: [Int64] = []
        try db.cachedStatement(sql: "SELECT sequence, state FROM messages WHERE sequence >= ? ORDER BY sequence LIMIT ?").forEachRow(
            binding: floor, Self.scanLimit
        ) { row in
            let sequence = sqlite3_column_int64(row, 0)
            let state = sqlite3_column_text(row, 1).map { String(cString: $0) }
            // A state this build does not know is taken for pending.
            if state.flatMap(MessageState.init(rawValue:)).map(MessageState.pending.contains) ?? true {
                guard newest - sequence >= Self.parkDistance else { return false }
                parked.append(sequence)
            }
            next.floor = sequence + 1
            return true
        }
        for sequence in parked {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO parked_messages (sequence) VALUES (?)").execute(arguments: [sequence])
        }
        if next.floor - stored >= Self.storeEvery {
            try db.cachedStatement(
                sql: "INSERT INTO pending_floor (only, sequence) VALUES (1, ?) ON CONFLICT (only) DO UPDATE SET sequence = excluded.sequence"
            ).execute(arguments: [next.floor])
            try db.cachedStatement(
                sql: """
                    DELETE FROM parked_messages WHERE NOT EXISTS (
                        SELECT 1 FROM messages WHERE messages.sequence = parked_messages.sequence AND \(Self.pendingCondition))
                    """
            ).execute()
            next.stored = next.floor
        }
        return next
    }
}
