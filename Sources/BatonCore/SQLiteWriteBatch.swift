import Foundation
import GRDB

/// The writes of one SQLite transaction (or of one group's savepoint), applied with as
/// few statements as give the same result.
///
/// Messages are inserted, and their states and reply counts written, once, at
/// ``finish(in:)``, with their last values: a message and its turn's "running" usually
/// commit together (one insert, not an insert and an update), and so do a turn's replies
/// and its end (one update, not three). A session's next event id comes from the ids this
/// process knows it committed (``SQLiteSessionIndex/Tail``) or assigned in this batch; the
/// store is read only for a session with neither (one index lookup).
struct SQLiteWriteBatch {
    /// What a message row gets at the end of the batch.
    private struct MessageUpdate {
        var state: MessageState?
        var replies = 0
    }

    /// The highest event id assigned in this batch, by session.
    private(set) var lastEventIDs: [String: Int64] = [:]
    private var messageUpdates: [String: MessageUpdate] = [:]
    /// Messages to insert, in the order they came; a later write to one changes the row.
    private var inserts: [Message] = []
    private var insertIndex: [String: Int] = [:]
    /// The highest event id committed for a session, when this process knows it.
    private let committedLastEventID: (String) -> Int64?
    /// The sequence the next event appended is stored under (``SQLiteSessionIndex/Tail``).
    private(set) var nextSequence: Int64
    /// The events appended, where they were stored.
    private(set) var placed: [SQLiteSessionIndex.Placed] = []

    init(committedLastEventID: @escaping (String) -> Int64?, assigned: [String: Int64] = [:], nextSequence: Int64) {
        self.committedLastEventID = committedLastEventID
        self.lastEventIDs = assigned
        self.nextSequence = nextSequence
    }

    /// Runs `write` (or keeps it for ``finish(in:)``); returns the event it appended, under
    /// the id it was stored with.
    mutating func apply(_ write: StoreWrite, in db: Database) throws -> SessionEvent? {
        switch write {
        case .setState(let id, let state):
            if let index = insertIndex[id] {
                inserts[index].state = state
            } else {
                messageUpdates[id, default: MessageUpdate()].state = state
            }
            return nil
        case .appendEvent(let event):
            return try append(event, in: db)
        case .appendReply(let event, let message, let ordinal):
            let stored = try append(event, in: db)
            if let index = insertIndex[message] {
                inserts[index].replies = max(inserts[index].replies, ordinal)
            } else {
                messageUpdates[message, default: MessageUpdate()].replies = max(messageUpdates[message]?.replies ?? 0, ordinal)
            }
            return stored
        case .insertMessage(let message):
            insertIndex[message.id] = inserts.count
            inserts.append(message)
        case .saveCursor(let network, let cursor):
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO network_cursors (network, cursor) VALUES (?, ?)").execute(
                arguments: [network, cursor])
        case .markDelivered(let network, let session, let eventID):
            // Positions only move forward, whatever order two writes commit in.
            try db.cachedStatement(
                sql: """
                    INSERT INTO deliveries (network, session, event_id) VALUES (?, ?, ?)
                    ON CONFLICT (network, session) DO UPDATE SET event_id = MAX(event_id, excluded.event_id)
                    """
            ).execute(arguments: [network, session, eventID])
        case .addMark(let network, let mark, let expires):
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO network_marks (network, mark, created_at) VALUES (?, ?, ?)").execute(
                arguments: [network, mark, expires ? Date().timeIntervalSince1970 : nil])
        case .fence:
            break
        }
        return nil
    }

    /// Inserts the messages, and writes the states and reply counts, kept so far.
    mutating func finish(in db: Database) throws {
        if !inserts.isEmpty {
            let insert = try db.cachedStatement(
                sql: """
                    INSERT INTO messages (id, sequence, session, user, text, state, ack_status, ack_position, accepted_at, replies)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for m in inserts {
                try insert.execute(
                    binding: m.id, m.sequence, m.session, m.user, m.text, m.state.rawValue,
                    m.acknowledgement.status.rawValue, m.acknowledgement.position, m.acceptedAt.timeIntervalSince1970, m.replies)
            }
            inserts = []
            insertIndex = [:]
        }
        if !messageUpdates.isEmpty {
            let update = try db.cachedStatement(sql: "UPDATE messages SET state = COALESCE(?, state), replies = MAX(replies, ?) WHERE id = ?")
            for (id, change) in messageUpdates {
                try update.execute(binding: change.state?.rawValue, change.replies, id)
            }
        }
        messageUpdates = [:]
    }

    private mutating func append(_ event: SessionEvent, in db: Database) throws -> SessionEvent {
        var stored = event
        let last =
            try lastEventIDs[event.session] ?? committedLastEventID(event.session)
            ?? SQLiteStore.lastIndexedEventID(session: event.session, in: db)
        stored.id = last + 1
        lastEventIDs[event.session] = stored.id
        // Not in the session index until the tail is indexed (``SQLiteSessionIndex``).
        try db.cachedStatement(sql: "INSERT INTO events (sequence, session, id, kind, data, created_at) VALUES (?, ?, ?, ?, ?, ?)").execute(
            binding: nextSequence, stored.session, stored.id, stored.kind.rawValue, stored.data, Date().timeIntervalSince1970)
        placed.append(SQLiteSessionIndex.Placed(session: stored.session, id: stored.id, sequence: nextSequence))
        nextSequence += 1
        return stored
    }
}
