import BatonCore
import Foundation
import Logging
import PostgresNIO

/// Baton's durable state in PostgreSQL, shared by every process of a cluster.
///
/// Writes come grouped from ``StoreWriter`` as today; the store assigns each event its id
/// inside the transaction (a per-session counter row, locked until the commit), so two
/// processes never use one id twice, and a session's messages and events commit in the
/// order their ids say. Every commit notifies the cluster (`NOTIFY baton`) of the events and
/// messages it added: see ``ClusterNotification``.
public final class PostgresStore: Store {
    let client: PostgresClient
    let logger: Logger
    /// This process, named in the notifications it sends so it skips its own.
    let instance: String
    /// How long an operation may wait for the database before it fails.
    let timeout: Duration

    public init(client: PostgresClient, instance: String, timeout: Duration = .seconds(5), logger: Logger) {
        self.client = client
        self.instance = instance
        self.timeout = timeout
        self.logger = logger
    }

    /// A query's rows, read within ``timeout``.
    func rows<Row: Sendable>(_ query: PostgresQuery, _ decode: @escaping @Sendable (PostgresRowSequence) async throws -> [Row]) async throws -> [Row] {
        let client = self.client
        let logger = self.logger
        do {
            return try await withDeadline(timeout) { try await decode(try await client.query(query, logger: logger)) }
        } catch let error as PostgresTimeoutError {
            throw PostgresStoreError(message: error.description)
        } catch {
            throw PostgresStoreError(error)
        }
    }

    // MARK: Reads

    public func message(id: String) async throws -> Message? {
        try await messages("\(unescaped: Self.selectMessages) WHERE id = \(id)").first
    }

    public func pendingMessages() async throws -> [Message] {
        try await messages("\(unescaped: Self.selectMessages) WHERE state IN ('queued', 'running', 'interrupted') ORDER BY sequence")
    }

    public func pendingMessages(session: String) async throws -> [Message] {
        try await messages(
            "\(unescaped: Self.selectMessages) WHERE session = \(session) AND state IN ('queued', 'running', 'interrupted') ORDER BY sequence")
    }

    public func events(session: String, after: Int64, limit: Int) async throws -> [SessionEvent] {
        try await rows("SELECT id, kind, data FROM events WHERE session = \(session) AND id > \(after) ORDER BY id LIMIT \(limit)") { rows in
            var events: [SessionEvent] = []
            for try await (id, kind, data) in rows.decode((Int64, String, String).self) {
                events.append(SessionEvent(session: session, id: id, kind: SessionEvent.Kind(rawValue: kind) ?? .notice, data: data))
            }
            return events
        }
    }

    public func lastEventIDs() async throws -> [String: Int64] {
        try await dictionary("SELECT session, last_event FROM sessions WHERE last_event > 0")
    }

    public func lastEventID(session: String) async throws -> Int64 {
        try await integers("SELECT last_event FROM sessions WHERE session = \(session)").first ?? 0
    }

    public func messageCount() async throws -> Int {
        Int(try await integers("SELECT COUNT(*) FROM messages").first ?? 0)
    }

    public func cursor(network: String) async throws -> String? {
        try await rows("SELECT cursor FROM network_cursors WHERE network = \(network)") { rows in
            var cursors: [String] = []
            for try await cursor in rows.decode(String.self) { cursors.append(cursor) }
            return cursors
        }.first
    }

    public func deliveryPositions(network: String) async throws -> [String: Int64] {
        try await dictionary("SELECT session, event_id FROM deliveries WHERE network = \(network)")
    }

    public func hasMark(network: String, mark: String) async throws -> Bool {
        try await !integers("SELECT 1::BIGINT FROM network_marks WHERE network = \(network) AND mark = \(mark)").isEmpty
    }

    // MARK: Writes

    public func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        let logger = self.logger
        let instance = self.instance
        do {
            return try await withDeadline(timeout) { try await self.transaction(groups, instance: instance, logger: logger) }
        } catch let error as PostgresStoreError {
            throw error
        } catch {
            throw PostgresStoreError(error)
        }
    }

    private func transaction(
        _ groups: [[StoreWrite]], instance: String, logger: Logger
    ) async throws -> [Result<[SessionEvent], any Error>] {
        try await client.withTransaction(logger: logger) { connection in
            var results: [Result<[SessionEvent], any Error>] = []
            var notifications = ClusterNotification.Batch(instance: instance)
            // One group needs no savepoint: its failure is the transaction's.
            let savepoints = groups.count > 1
            for writes in groups {
                if savepoints { try await connection.query("SAVEPOINT baton_group", logger: logger) }
                do {
                    var events: [SessionEvent] = []
                    var added = ClusterNotification.Batch(instance: instance)
                    for write in writes {
                        if let event = try await Self.apply(write, on: connection, logger: logger, notifying: &added) {
                            events.append(event)
                        }
                    }
                    if savepoints { try await connection.query("RELEASE SAVEPOINT baton_group", logger: logger) }
                    notifications.merge(added)
                    results.append(.success(events))
                } catch let error as PSQLError where error.code == .server && savepoints {
                    try await connection.query("ROLLBACK TO SAVEPOINT baton_group", logger: logger)
                    results.append(.failure(PostgresStoreError(error)))
                }
            }
            let payloads = notifications.payloads
            if !payloads.isEmpty {
                // Delivered at the commit, and only if it commits.
                try await connection.query("SELECT pg_notify('baton', p) FROM unnest(\(payloads)::text[]) AS p", logger: logger)
            }
            return results
        }
    }

    /// Runs one write; returns the event it appended, under the id the store gave it.
    static func apply(
        _ write: StoreWrite, on connection: PostgresConnection, logger: Logger, notifying batch: inout ClusterNotification.Batch
    ) async throws -> SessionEvent? {
        switch write {
        case .insertMessage(let m):
            // Locks the session's row until the commit: a session's messages commit in
            // the order of their sequence numbers, whichever process took them.
            try await connection.query(
                """
                INSERT INTO sessions (session) VALUES (\(m.session))
                ON CONFLICT (session) DO UPDATE SET last_event = sessions.last_event
                """, logger: logger)
            try await connection.query(
                """
                INSERT INTO messages (id, session, "user", text, state, ack_status, ack_position, accepted_at)
                VALUES (\(m.id), \(m.session), \(m.user), \(m.text), \(m.state.rawValue), \(m.acknowledgement.status.rawValue),
                        \(m.acknowledgement.position), \(m.acceptedAt.timeIntervalSince1970))
                """, logger: logger)
            batch.messageAdded(in: m.session)
            return nil
        case .setState(let id, let state):
            try await connection.query("UPDATE messages SET state = \(state.rawValue) WHERE id = \(id)", logger: logger)
            return nil
        case .appendEvent(let e):
            let rows = try await connection.query(
                """
                WITH counter AS (
                    INSERT INTO sessions (session, last_event) VALUES (\(e.session), 1)
                    ON CONFLICT (session) DO UPDATE SET last_event = sessions.last_event + 1
                    RETURNING last_event
                )
                INSERT INTO events (session, id, kind, data, created_at)
                SELECT \(e.session), last_event, \(e.kind.rawValue), \(e.data), \(Date().timeIntervalSince1970) FROM counter
                RETURNING id
                """, logger: logger)
            var stored = e
            for try await id in rows.decode(Int64.self) { stored.id = id }
            batch.eventAdded(stored)
            return stored
        case .appendReply(let e, let message, let ordinal):
            let stored = try await apply(.appendEvent(e), on: connection, logger: logger, notifying: &batch)
            try await connection.query(
                "UPDATE messages SET replies = GREATEST(replies, \(ordinal)) WHERE id = \(message)", logger: logger)
            return stored
        case .saveCursor(let network, let cursor):
            try await connection.query(
                """
                INSERT INTO network_cursors (network, cursor) VALUES (\(network), \(cursor))
                ON CONFLICT (network) DO UPDATE SET cursor = excluded.cursor
                """, logger: logger)
            return nil
        case .markDelivered(let network, let session, let eventID):
            try await connection.query(
                """
                INSERT INTO deliveries (network, session, event_id) VALUES (\(network), \(session), \(eventID))
                ON CONFLICT (network, session) DO UPDATE SET event_id = GREATEST(deliveries.event_id, excluded.event_id)
                """, logger: logger)
            return nil
        case .addMark(let network, let mark):
            try await connection.query(
                "INSERT INTO network_marks (network, mark) VALUES (\(network), \(mark)) ON CONFLICT DO NOTHING", logger: logger)
            return nil
        }
    }

    // MARK: Retention

    /// One batch of pruning in a transaction of its own on a pooled connection, beside
    /// the writer's. It takes no counter row, so it never waits on a commit appending
    /// events; rows another process is pruning at the same moment are skipped.
    public func prune(before cutoff: Date, after: Int64, limit: Int) async throws -> StorePruning {
        let logger = self.logger
        do {
            return try await withDeadline(timeout) {
                try await self.client.withTransaction(logger: logger) { connection in
                    var candidates: [StorePruning.Candidate] = []
                    let rows = try await connection.query(
                        "SELECT id, sequence, state, accepted_at FROM messages WHERE sequence > \(after) ORDER BY sequence LIMIT \(limit)",
                        logger: logger)
                    for try await (id, sequence, state, acceptedAt) in rows.decode((String, Int64, String, Double).self) {
                        candidates.append(
                            StorePruning.Candidate(
                                id: id, sequence: sequence, state: MessageState(rawValue: state) ?? .queued,
                                acceptedAt: Date(timeIntervalSince1970: acceptedAt)))
                    }
                    let plan = StorePruning.plan(candidates, before: cutoff, after: after, limit: limit)
                    var messages = 0
                    if !plan.delete.isEmpty {
                        let deleted = try await connection.query(
                            """
                            WITH gone AS (
                                DELETE FROM messages WHERE id = ANY(\(plan.delete)) AND state IN ('done', 'failed', 'cancelled')
                                RETURNING 1
                            )
                            SELECT COUNT(*) FROM gone
                            """, logger: logger)
                        for try await count in deleted.decode(Int64.self) { messages = Int(count) }
                    }
                    var events = 0
                    let deleted = try await connection.query(
                        """
                        WITH gone AS (
                            DELETE FROM events WHERE (session, id) IN (
                                SELECT session, id FROM events WHERE created_at < \(cutoff.timeIntervalSince1970)
                                ORDER BY created_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                            RETURNING 1
                        )
                        SELECT COUNT(*) FROM gone
                        """, logger: logger)
                    for try await count in deleted.decode(Int64.self) { events = Int(count) }
                    return StorePruning(
                        messages: messages, events: events, examinedThrough: plan.examinedThrough,
                        hasMore: plan.hasMore || events >= limit)
                }
            }
        } catch let error as PostgresTimeoutError {
            throw PostgresStoreError(message: error.description)
        } catch {
            throw PostgresStoreError(error)
        }
    }

    // MARK: Helpers

    static let selectMessages =
        #"SELECT id, sequence, session, "user", text, state, ack_status, ack_position, accepted_at, replies FROM messages"#

    private func messages(_ query: PostgresQuery) async throws -> [Message] {
        try await rows(query) { rows in
            var messages: [Message] = []
            for try await (id, sequence, session, user, text, state, ackStatus, ackPosition, acceptedAt, replies) in rows.decode(
                (String, Int64, String, String, String, String, String, Int32, Double, Int32).self)
            {
                messages.append(
                    Message(
                        id: id, sequence: sequence, session: session, user: user, text: text,
                        state: MessageState(rawValue: state) ?? .queued,
                        acknowledgement: Acknowledgement(
                            id: id, session: session, status: Acknowledgement.Status(rawValue: ackStatus) ?? .queued,
                            position: Int(ackPosition)),
                        acceptedAt: Date(timeIntervalSince1970: acceptedAt), replies: Int(replies)))
            }
            return messages
        }
    }

    private func dictionary(_ query: PostgresQuery) async throws -> [String: Int64] {
        let pairs = try await rows(query) { rows in
            var pairs: [Pair] = []
            for try await (key, value) in rows.decode((String, Int64).self) { pairs.append(Pair(key: key, value: value)) }
            return pairs
        }
        return Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
    }

    private struct Pair: Sendable {
        var key: String
        var value: Int64
    }

    private func integers(_ query: PostgresQuery) async throws -> [Int64] {
        try await rows(query) { rows in
            var values: [Int64] = []
            for try await value in rows.decode(Int64.self) { values.append(value) }
            return values
        }
    }
}
