import BatonCore
import Foundation
import Logging
import PostgresNIO

/// Session leases in PostgreSQL's `leases` table, and this process's row in `processes`.
///
/// A lease is a row naming its holder, a generation given anew by every acquisition (from
/// one sequence, never twice, though the row goes on release), and when it runs out. The
/// database's clock decides, so processes' clocks need not agree. A lease that ran out is
/// still its holder's until a peer takes it: running out only lets a peer take it.
public struct PostgresLeases: SessionLeases {
    let client: PostgresClient
    let instance: String
    /// How long a lease lasts unrenewed, in seconds.
    let seconds: Double
    /// What `/v1/status` shows of this process.
    let listen: String
    let startedAt: Date
    let logger: Logger
    /// How long an operation may wait for the database before it fails.
    let timeout: Duration = .seconds(5)

    public init(client: PostgresClient, instance: String, lease: Double, listen: String, logger: Logger) {
        self.client = client
        self.instance = instance
        self.seconds = lease
        self.listen = listen
        self.startedAt = Date()
        self.logger = logger
    }

    public var isShared: Bool { true }

    public func acquire(_ session: String) async throws -> LeaseGrant? {
        try await withDeadline(timeout) { [self] in
            // The CTE reads the row as it was before the upsert: whose lease ran out, if any.
            // An update takes its generation once it holds the row, so of two takes that
            // raced the one that commits last has the higher.
            let rows = try await client.query(
                """
                WITH previous AS (SELECT holder FROM leases WHERE session = \(session))
                INSERT INTO leases (session, holder, generation, expires_at)
                VALUES (\(session), \(instance), nextval('baton_lease_generations'), now() + make_interval(secs => \(seconds)))
                ON CONFLICT (session) DO UPDATE
                    SET holder = excluded.holder, generation = nextval('baton_lease_generations'), expires_at = excluded.expires_at
                    WHERE leases.holder = excluded.holder OR leases.expires_at < now()
                RETURNING generation, (SELECT holder FROM previous)
                """, logger: logger)
            for try await (generation, previous) in rows.decode((Int64, String?).self) {
                return LeaseGrant(generation: generation, takenFrom: previous == instance ? nil : previous)
            }
            return nil
        }
    }

    /// Extends every lease whose row names this process (of `sessions` only, when given),
    /// run out or not, and returns their sessions: a renewal late by a stall of the
    /// database keeps what no peer took meanwhile. A session missing was taken by a peer
    /// (the row names it now) or let go.
    public func renew(state: String, only sessions: Set<String>?) async throws -> Set<String> {
        try await withDeadline(timeout) { [self] in
            try await client.query(
                """
                INSERT INTO processes (instance, host, pid, listen, state, started_at, seen_at, expires_at)
                VALUES (\(instance), \(ProcessInfo.processInfo.hostName), \(Int32(ProcessInfo.processInfo.processIdentifier)), \(listen),
                        \(state), to_timestamp(\(startedAt.timeIntervalSince1970)), now(), now() + make_interval(secs => \(seconds)))
                ON CONFLICT (instance) DO UPDATE SET state = excluded.state, seen_at = now(), expires_at = excluded.expires_at
                """, logger: logger)
            // The holder alone decides, as the commits' fence does: an instance id is new
            // with every process and a peer's take writes its own, so a row naming this
            // process is one it took (generations tell only its own takes apart, and the
            // row has the newest). A peer's take racing this one waits on the row's lock:
            // after it, the take finds the lease renewed; before it, this finds the peer's.
            // The rows are locked in the sessions' order, as a commit's fences lock them
            // (``PostgresBatch``): the two never deadlock.
            let only = sessions.map(Array.init)
            let rows = try await client.query(
                """
                UPDATE leases SET expires_at = now() + make_interval(secs => \(seconds))
                WHERE session IN (
                    SELECT session FROM leases WHERE holder = \(instance) AND (\(only)::text[] IS NULL OR session = ANY(\(only)))
                    ORDER BY session FOR UPDATE)
                  AND holder = \(instance)
                RETURNING session
                """, logger: logger)
            var held: Set<String> = []
            for try await session in rows.decode(String.self) { held.insert(session) }
            return held
        }
    }

    public func release(_ session: String, generation: Int64) async throws {
        let payload = ClusterNotification.releasedPayload(instance: instance, session: session)
        try await withDeadline(timeout) { [self] in
            // One statement, so no transaction stays open between two: the notice goes out
            // as the row goes.
            try await client.query(
                """
                WITH released AS (
                    DELETE FROM leases WHERE session = \(session) AND holder = \(instance) AND generation = \(generation) RETURNING 1)
                SELECT pg_notify('baton', \(payload))
                """, logger: logger)
        }
    }

    public func unclaimed(limit: Int) async throws -> [String] {
        try await withDeadline(timeout) { [self] in
            let rows = try await client.query(
                """
                SELECT DISTINCT m.session FROM messages m
                WHERE m.state IN ('queued', 'running', 'interrupted')
                  AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.session = m.session AND l.expires_at >= now())
                LIMIT \(limit)
                """, logger: logger)
            var sessions: [String] = []
            for try await session in rows.decode(String.self) { sessions.append(session) }
            return sessions
        }
    }

    public func cluster() async throws -> ClusterStatus? {
        try await withDeadline(timeout) { [self] in
            let rows = try await client.query(
                """
                SELECT p.instance, p.host, p.pid, p.listen, p.state,
                       (SELECT COUNT(*) FROM leases l WHERE l.holder = p.instance AND l.expires_at >= now())
                FROM processes p WHERE p.expires_at >= now() ORDER BY p.started_at
                """, logger: logger)
            var processes: [ClusterStatus.Process] = []
            for try await (instance, host, pid, listen, state, sessions) in rows.decode((String, String, Int32, String, String, Int64).self) {
                processes.append(.init(instance: instance, host: host, pid: Int(pid), listen: listen, state: state, sessions: Int(sessions)))
            }
            var queued = 0
            for try await count in try await client.query(
                "SELECT COUNT(*) FROM messages WHERE state IN ('queued', 'running', 'interrupted')", logger: logger
            ).decode(Int64.self) {
                queued = Int(count)
            }
            // Processes that went away cleanly or long ago are forgotten, and so are leases
            // that ran out long ago on sessions nobody took since (a dead process's idle
            // ones): the table follows the sessions in use, not every one ever held.
            try await client.query("DELETE FROM processes WHERE expires_at < now() - interval '1 hour'", logger: logger)
            try await client.query("DELETE FROM leases WHERE expires_at < now() - interval '1 hour'", logger: logger)
            return ClusterStatus(processes: processes, queued: queued)
        }
    }
}
