import Logging
import NIOCore
import PostgresNIO

/// Baton's tables in PostgreSQL, created and migrated by Baton itself.
///
/// The version reached is kept in `baton_schema`; every step runs in one transaction
/// under an advisory lock, so processes starting together migrate once. A database whose
/// version is newer than this build knows is refused: an older process must not write to
/// tables it does not understand.
public enum PostgresSchema {
    /// The newest version this build knows.
    public static let version = 6

    /// The steps, `steps[n]` taking version n to n + 1.
    static let steps: [[String]] = [
        [
            """
            CREATE TABLE sessions (
                session TEXT PRIMARY KEY,
                last_event BIGINT NOT NULL DEFAULT 0
            )
            """,
            """
            CREATE TABLE messages (
                id TEXT PRIMARY KEY,
                sequence BIGSERIAL NOT NULL UNIQUE,
                session TEXT NOT NULL,
                "user" TEXT NOT NULL,
                text TEXT NOT NULL,
                state TEXT NOT NULL,
                ack_status TEXT NOT NULL,
                ack_position INTEGER NOT NULL,
                accepted_at DOUBLE PRECISION NOT NULL,
                replies INTEGER NOT NULL DEFAULT 0
            )
            """,
            "CREATE INDEX messages_pending ON messages (session, sequence) WHERE state IN ('queued', 'running', 'interrupted')",
            """
            CREATE TABLE events (
                session TEXT NOT NULL,
                id BIGINT NOT NULL,
                kind TEXT NOT NULL,
                data TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (session, id)
            )
            """,
            "CREATE TABLE network_cursors (network TEXT PRIMARY KEY, cursor TEXT NOT NULL)",
            "CREATE TABLE deliveries (network TEXT NOT NULL, session TEXT NOT NULL, event_id BIGINT NOT NULL, PRIMARY KEY (network, session))",
            "CREATE TABLE network_marks (network TEXT NOT NULL, mark TEXT NOT NULL, PRIMARY KEY (network, mark))",
            """
            CREATE TABLE leases (
                session TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                generation BIGINT NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL
            )
            """,
            "CREATE INDEX leases_holder ON leases (holder)",
            """
            CREATE TABLE processes (
                instance TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                listen TEXT NOT NULL,
                state TEXT NOT NULL,
                started_at TIMESTAMPTZ NOT NULL,
                seen_at TIMESTAMPTZ NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL
            )
            """,
        ],
        [
            // Retention finds the oldest events without reading the others. Event ids
            // need nothing new: `sessions.last_event` is never pruned.
            "CREATE INDEX events_created ON events (created_at)"
        ],
        // A group-commit batch in one round trip.
        [PostgresBatch.function],
        // When a mark that expires was made (a message answered by a notice); NULL for the
        // ones kept for good.
        ["ALTER TABLE network_marks ADD COLUMN IF NOT EXISTS created_at DOUBLE PRECISION"],
        // Each commit's outcome, kept an hour, so that a group sent again after a commit
        // that went unanswered is stored once (see ``PostgresBatch``). `outcome` (one entry
        // per group) is NULL
        // for a commit claimed by such a retry before it landed: it never will.
        [
            "CREATE TABLE baton_commits (key TEXT PRIMARY KEY, outcome JSONB, created_at DOUBLE PRECISION NOT NULL)",
            "CREATE INDEX baton_commits_created ON baton_commits (created_at)",
        ],
        // Lease generations from one sequence, never given twice: a lease row deleted on
        // release started again at 1, so a release that came late could delete its
        // holder's next lease of the same session (see ``PostgresLeases``).
        [
            "CREATE SEQUENCE IF NOT EXISTS baton_lease_generations",
            "SELECT setval('baton_lease_generations', COALESCE((SELECT MAX(generation) FROM leases), 0) + 1)",
        ],
    ]

    /// Statements run at every start, under the migration's lock, unless a newer build
    /// installed a later revision of the function (see ``installedFunctionRevision(on:logger:)``):
    /// the function of this build replaces whatever an earlier build installed with the
    /// same signature. One with another signature (`baton_commit(jsonb, text)`, before
    /// schema 5) is left for the processes of that build still running.
    static let refresh: [String] = [
        PostgresBatch.function,
        "COMMENT ON FUNCTION baton_commit(jsonb, text, text) IS 'baton_commit revision \(PostgresBatch.functionRevision)'",
    ]

    /// The revision of the `baton_commit` installed, from its comment; nil when none is
    /// installed or it carries none (a build from before revisions, which any replaces).
    static func installedFunctionRevision(on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        let rows = try await connection.query(
            """
            SELECT obj_description(p.oid, 'pg_proc') FROM pg_proc p
            WHERE p.proname = 'baton_commit' AND pg_get_function_identity_arguments(p.oid) = 'groups jsonb, me text, commit_key text'
            """, logger: logger)
        for try await comment in rows.decode(String?.self) {
            guard let comment, let number = comment.split(separator: " ").last else { return nil }
            return Int(number)
        }
        return nil
    }

    /// A database Baton must not use.
    public struct TooNewError: Error, CustomStringConvertible {
        public let found: Int
        public var description: String {
            "the database's Baton schema is version \(found), newer than this Baton understands (\(PostgresSchema.version)); run the newer Baton, or point store.url at another database"
        }
    }

    /// Connects once, brings the schema to ``version``, and disconnects.
    public static func migrate(_ url: PostgresURL, logger: Logger) async throws {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: PostgresConnection.defaultEventLoopGroup.next(), configuration: url.connection, id: 1, logger: logger
            ).get()
        } catch {
            let cause = PostgresStoreError(error)
            throw PostgresStoreError(message: "cannot connect to \(url.redacted): \(cause)", cause: cause)
        }
        do {
            try await migrate(on: connection, logger: logger)
            try? await connection.close()
        } catch let error as TooNewError {
            try? await connection.close()
            throw error
        } catch {
            try? await connection.close()
            let cause = PostgresStoreError(error)
            throw PostgresStoreError(message: "cannot set up Baton's tables in \(url.redacted): \(cause)", cause: cause)
        }
    }

    static func migrate(on connection: PostgresConnection, logger: Logger) async throws {
        // The transaction reports what it found rather than throwing: postgres-nio wraps
        // errors thrown inside a transaction.
        let found = try await connection.withTransaction(logger: logger) { connection -> Int in
            // One process migrates at a time; the others then find the work done.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Int64(0x6261_746f_6e)))", logger: logger)
            try await connection.query("CREATE TABLE IF NOT EXISTS baton_schema (version INTEGER NOT NULL)", logger: logger)
            var found: Int?
            for try await version in try await connection.query("SELECT version FROM baton_schema", logger: logger).decode(Int32.self) {
                found = Int(version)
            }
            let current = found ?? 0
            guard current <= version else { return current }
            // A rolling upgrade: an older process starting again beside newer ones must
            // not put its older body back under them.
            if let installed = try await installedFunctionRevision(on: connection, logger: logger), installed > PostgresBatch.functionRevision {
                logger.notice(
                    "A newer Baton installed a later baton_commit; it is kept",
                    metadata: ["baton.installed_revision": "\(installed)", "baton.own_revision": "\(PostgresBatch.functionRevision)"])
            } else {
                for statement in refresh { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            guard current < version else { return current }
            for step in steps[current..<version] {
                for statement in step { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
            }
            if found == nil {
                try await connection.query("INSERT INTO baton_schema (version) VALUES (\(Int32(version)))", logger: logger)
            } else {
                try await connection.query("UPDATE baton_schema SET version = \(Int32(version))", logger: logger)
            }
            logger.info("PostgreSQL schema migrated", metadata: ["baton.from": "\(current)", "baton.to": "\(version)"])
            return version
        }
        guard found <= version else { throw TooNewError(found: found) }
    }
}
