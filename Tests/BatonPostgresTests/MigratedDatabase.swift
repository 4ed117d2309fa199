@testable import BatonPostgres
import BatonTestSupport
import Logging
import PostgresNIO

/// Runs `body` with a client on a fresh database of its own that has Baton's schema, and
/// the database's URL (for `psql`); the client stops when `body` returns.
func withMigratedDatabase(
    logger: Logger = Logger(label: "test"), _ body: @escaping @Sendable (PostgresClient, String) async throws -> Void
) async throws {
    let database = try await PostgresTestServer.createDatabase()
    let url = try PostgresURL(database)
    try await PostgresSchema.migrate(url, logger: logger)
    let client = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        try await body(client, database)
        group.cancelAll()
    }
}
