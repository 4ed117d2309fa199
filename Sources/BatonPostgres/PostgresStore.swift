import BatonCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Baton's durable state in PostgreSQL, shared by every process of a cluster.
///
/// Writes come grouped from ``StoreWriter``; a whole batch goes to the server in one round
/// trip (``PostgresBatch``), which assigns each event its id inside the transaction (a
/// per-session counter row, locked until the commit), so two processes never use one id
/// twice, and a session's messages and events commit in the order their ids say. Every
/// commit notifies the cluster (`NOTIFY baton`) of the events and messages it added: see
/// ``ClusterNotification``.
public final class PostgresStore: Store {
    let client: PostgresClient
    let logger: Logger
    /// This process, named in the notifications it sends so it skips its own.
    let instance: String
    /// How long an operation may wait for the database before it fails.
    let timeout: Duration
    /// Commits that went unanswered since the last one that was answered.
    private let unanswered = Mutex(UnansweredCommits())

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

    public func lastEventIDs(sessionsStartingWith prefix: String) async throws -> [String: Int64] {
        try await dictionary("SELECT session, last_event FROM sessions WHERE starts_with(session, \(prefix)) AND last_event > 0")
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

    /// Commits `groups` in one transaction. A commit that goes unanswered may still land:
    /// its groups, sent again by the writer, are then stored once (see ``PostgresBatch``).
    public func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        let logger = self.logger
        let instance = self.instance
        var batch = PostgresBatch(groups: groups, key: UUID().uuidString.lowercased())
        batch.retries = unanswered.withLock { $0.retries(of: groups) }
        var attempt = 1
        while true {
            do {
                let results = try await withDeadline(timeout) { [batch] in try await self.commitBatch(batch, instance: instance, logger: logger) }
                unanswered.withLock { $0.removeAll() }
                return results
            } catch let error as PostgresStoreError where error.isRetryable && attempt < 3 {
                // A deadlock or serialization failure: nothing committed; the same batch
                // again, at once, usually goes through.
                logger.notice("Commit retried", metadata: ["baton.error": "\(error)", "baton.attempt": "\(attempt)"])
                attempt += 1
            } catch {
                // Whether it landed is known only for some failures: treat each as maybe.
                unanswered.withLock { $0.add(key: batch.key, groups: groups) }
                if error is PostgresStoreError || error is PostgresTimeoutError { throw error }
                throw PostgresStoreError(error)
            }
        }
    }

    /// One round trip: the whole batch goes to `baton_commit` (see ``PostgresBatch``), a
    /// statement of its own, so it commits or fails as a whole, groups failing alone inside.
    private func commitBatch(_ batch: PostgresBatch, instance: String, logger: Logger) async throws -> [Result<[SessionEvent], any Error>] {
        let json = try batch.json()
        let rows = try await client.query("SELECT baton_commit(\(json)::jsonb, \(instance), \(batch.key))::text", logger: logger)
        for try await text in rows.decode(String.self) {
            return try batch.results(from: text)
        }
        throw PostgresStoreError(message: "PostgreSQL: baton_commit returned nothing")
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
                    // Marks that expire, older than the cutoff (a few rows: no index).
                    var marks = 0
                    let expired = try await connection.query(
                        """
                        WITH gone AS (
                            DELETE FROM network_marks WHERE (network, mark) IN (
                                SELECT network, mark FROM network_marks WHERE created_at < \(cutoff.timeIntervalSince1970)
                                LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                            RETURNING 1
                        )
                        SELECT COUNT(*) FROM gone
                        """, logger: logger)
                    for try await count in expired.decode(Int64.self) { marks = Int(count) }
                    return StorePruning(
                        messages: messages, events: events, examinedThrough: plan.examinedThrough,
                        hasMore: plan.hasMore || events >= limit || marks >= limit)
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
