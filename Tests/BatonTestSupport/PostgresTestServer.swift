import Foundation

/// The throwaway PostgreSQL cluster `scripts/postgres.sh up` started for the tests
/// (`BATON_TEST_POSTGRES_URL`, `BATON_TEST_POSTGRES_DIR`); tests that need it are skipped
/// without it.
public enum PostgresTestServer {
    public static var url: String? { ProcessInfo.processInfo.environment["BATON_TEST_POSTGRES_URL"] }
    public static var isAvailable: Bool { url != nil }

    /// A fresh, empty database of its own for one test; returns its URL.
    public static func createDatabase() async throws -> String {
        guard let url else { throw CompletedProcess.CommandFailed(description: "BATON_TEST_POSTGRES_URL is not set") }
        let name = "baton_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        try await psql(url, "CREATE DATABASE \(name)")
        return url.replacingOccurrences(of: "/postgres", with: "/\(name)")
    }

    /// Runs one SQL command against `url` with Debian's `psql`.
    @discardableResult
    public static func psql(_ url: String, _ sql: String) async throws -> String {
        try await ChildProcess.run("/usr/bin/psql", arguments: [url, "-v", "ON_ERROR_STOP=1", "-tAc", sql]).checked().output
    }

    /// Stops the server (`pg_ctl stop -m fast`, every connection drops) while `body` runs,
    /// then starts it again on the same port, also when `body` throws.
    public static func whileStopped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await script("stop")
        let result: T
        do {
            result = try await body()
        } catch {
            try? await script("start")
            throw error
        }
        try await script("start")
        return result
    }

    private static func script(_ command: String) async throws {
        let script = (BatonBinary.repositoryRoot as NSString).appendingPathComponent("scripts/postgres.sh")
        try await ChildProcess.run(script, arguments: [command], timeout: .seconds(60)).checked()
    }
}

/// Baton fixtures sharing one PostgreSQL database.
public struct BatonCluster: Sendable {
    public let members: [BatonFixture]
    /// The database's URL (`store.url`).
    public let database: String

    public subscript(index: Int) -> BatonFixture { members[index] }
}

/// Runs `body` with `count` Baton fixtures sharing one fresh PostgreSQL database, each
/// with its own port and directories; every process is killed afterwards.
public func withBatonCluster<T: Sendable>(
    _ count: Int,
    lease: Double = 2,
    _ configure: @escaping (inout BatonTestConfiguration) -> Void = { _ in },
    _ body: (BatonCluster) async throws -> T
) async throws -> T {
    let database = try await PostgresTestServer.createDatabase()
    var fixtures: [BatonFixture] = []
    do {
        for _ in 0..<count {
            fixtures.append(
                try BatonFixture { configuration in
                    configure(&configuration)
                    configuration.extraYAML += "store:\n  url: \(database)\n  lease: \(lease)\n"
                })
        }
        let result = try await body(BatonCluster(members: fixtures, database: database))
        for fixture in fixtures { await fixture.tearDown() }
        return result
    } catch {
        for fixture in fixtures {
            FileHandle.standardError.write(Data("Baton cluster member failed: \(error)\n\(fixture.serverLogs)\n".utf8))
            await fixture.tearDown()
        }
        throw error
    }
}
