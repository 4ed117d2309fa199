@testable import BatonCore
@testable import BatonPostgres
import BatonTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// `store.retention` on PostgreSQL, through the same ``Store`` requirement as SQLite: old
/// finished history goes, pending work, positions and the per-session counters stay.
@Suite("Retention on PostgreSQL", .serialized, .enabled(if: PostgresTestServer.isAvailable, "needs scripts/postgres.sh up"))
struct PostgresRetentionTests {
    static let later = Date().addingTimeInterval(31 * 86_400)

    /// A fresh database with Baton's schema, and a store on it while `body` runs.
    private func withStore(_ body: @escaping @Sendable (PostgresStore, String) async throws -> Void) async throws {
        try await withMigratedDatabase { client, database in
            try await body(PostgresStore(client: client, instance: "test", logger: Logger(label: "test")), database)
        }
    }

    private static func message(_ id: String, state: MessageState, acceptedAt: Date = Date()) -> Message {
        Message(
            id: id, sequence: 0, session: "s", user: "u", text: id, state: state,
            acknowledgement: .init(id: id, session: "s", status: .queued, position: 0), acceptedAt: acceptedAt)
    }

    private static func event() -> StoreWrite { .appendEvent(SessionEvent(session: "s", id: 0, kind: .notice, data: "{}")) }

    private static func pruner(_ store: PostgresStore) -> HistoryPruner {
        HistoryPruner(store: store, retention: .seconds(30 * 86_400), batchSize: 2, pause: .zero, logger: Logger(label: "test"))
    }

    @Test func oldFinishedHistoryGoesAndCountersKeepGrowing() async throws {
        try await withStore { store, _ in
            let states: [MessageState] = [.done, .failed, .cancelled, .queued, .running, .interrupted, .done]
            _ = try await store.commit([states.enumerated().map { .insertMessage(Self.message("old\($0)", state: $1)) }])
            _ = try await store.commit([[.insertMessage(Self.message("young", state: .done, acceptedAt: Self.later))]])
            let ids = try await store.commit([(0..<5).map { _ in Self.event() }])[0].get().map(\.id)
            #expect(ids == [1, 2, 3, 4, 5])
            _ = try await store.commit([
                [
                    .saveCursor(network: "matrix", cursor: "s_1"), .markDelivered(network: "matrix", session: "s", eventID: 3),
                    .addMark(network: "matrix", mark: "welcomed"), .addMark(network: "answered", mark: "$event", expires: true),
                ]
            ])

            let pass = try await Self.pruner(store).prunePass(now: Self.later)

            #expect(pass.messages == 4 && pass.events == 5, "\(pass)")
            #expect(try await store.pendingMessages().map(\.id) == ["old3", "old4", "old5"])
            #expect(try await store.message(id: "young") != nil)
            #expect(try await store.events(session: "s", after: 0, limit: 100).isEmpty)
            #expect(try await store.cursor(network: "matrix") == "s_1")
            #expect(try await store.deliveryPositions(network: "matrix") == ["s": 3])
            #expect(try await store.lastEventID(session: "s") == 5)
            #expect(try await store.hasMark(network: "matrix", mark: "welcomed"), "kept for good")
            #expect(try await !store.hasMark(network: "answered", mark: "$event"), "went with the history")
            #expect(try await store.commit([[Self.event()]])[0].get().map(\.id) == [6])
            // A chat network's start reads its own sessions only.
            #expect(try await store.lastEventIDs(sessionsStartingWith: "s") == ["s": 6])
            #expect(try await store.lastEventIDs(sessionsStartingWith: "!").isEmpty)
        }
    }

    @Test func aDatabaseAtSchemaVersionOneUpgrades() async throws {
        try await withStore { store, database in
            _ = try await store.commit([[.insertMessage(Self.message("m", state: .done)), Self.event()]])
            try await PostgresTestServer.psql(database, "DROP INDEX events_created; ALTER TABLE network_marks DROP COLUMN created_at; DROP TABLE baton_commits; DROP SEQUENCE baton_lease_generations; UPDATE baton_schema SET version = 1")
            try await PostgresSchema.migrate(try PostgresURL(database), logger: Logger(label: "test"))
            let version = try await PostgresTestServer.psql(database, "SELECT version FROM baton_schema")
            #expect(version.trimmingCharacters(in: .whitespacesAndNewlines) == String(PostgresSchema.version))
            let index = try await PostgresTestServer.psql(database, "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'events_created'")
            #expect(index.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
            _ = try await store.commit([[.addMark(network: "answered", mark: "m", expires: true)]])[0].get()
            let pass = try await Self.pruner(store).prunePass(now: Self.later)
            #expect(pass.messages == 1 && pass.events == 1)
            #expect(try await !store.hasMark(network: "answered", mark: "m"), "marks that expire have their time since the upgrade")
        }
    }

    @Test func anOlderBuildStartingBesideANewerOneKeepsTheNewerCommitFunction() async throws {
        try await withStore { _, database in
            let url = try PostgresURL(database)
            let revision = try await PostgresTestServer.psql(database, "SELECT obj_description('baton_commit(jsonb,text,text)'::regprocedure, 'pg_proc')")
            #expect(revision.trimmingCharacters(in: .whitespacesAndNewlines) == "baton_commit revision \(PostgresBatch.functionRevision)")
            // A newer build's body, under a later revision.
            let newer = PostgresBatch.function.replacingOccurrences(of: "DECLARE", with: "-- a newer body\nDECLARE")
            try await PostgresTestServer.psql(
                database, newer + "; COMMENT ON FUNCTION baton_commit(jsonb, text, text) IS 'baton_commit revision \(PostgresBatch.functionRevision + 1)'")
            try await PostgresSchema.migrate(url, logger: Logger(label: "test"))
            let body = try await PostgresTestServer.psql(database, "SELECT prosrc FROM pg_proc WHERE proname = 'baton_commit'")
            #expect(body.contains("-- a newer body"), "this build's start left the newer body in place")
            // An earlier revision is replaced.
            try await PostgresTestServer.psql(database, "COMMENT ON FUNCTION baton_commit(jsonb, text, text) IS 'baton_commit revision 0'")
            try await PostgresSchema.migrate(url, logger: Logger(label: "test"))
            let replaced = try await PostgresTestServer.psql(database, "SELECT prosrc FROM pg_proc WHERE proname = 'baton_commit'")
            #expect(!replaced.contains("-- a newer body"))
        }
    }
}
