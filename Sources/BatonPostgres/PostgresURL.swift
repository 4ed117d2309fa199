import Foundation
import NIOSSL
import PostgresNIO

/// `store.url` as postgres-nio's client configuration.
///
/// `postgres://user:password@host:port/database?sslmode=…`: the port defaults to 5432, the
/// user to `baton`, the database to the user's name; `sslmode` is `disable` (the default),
/// `prefer` or `require`.
public struct PostgresURL: Sendable {
    public let configuration: PostgresClient.Configuration
    /// The same server for one connection of its own (migrations).
    public let connection: PostgresConnection.Configuration
    /// The URL without its password, for logs and messages.
    public let redacted: String

    /// Limits the server enforces on the pool's connections. A store or lease operation is
    /// given up after 5 s by the process (``withDeadline``), but postgres-nio cannot cancel
    /// the query on the server, which would keep its connection until, say, a lock held
    /// elsewhere is let go: a few abandoned waits would take the whole pool, renewals
    /// included. The server ends such waits itself, just after the process gave up.
    static let serverLimits: [(String, String)] = [
        ("lock_timeout", "5500ms"),
        ("statement_timeout", "30s"),
        ("idle_in_transaction_session_timeout", "30s"),
    ]

    public init(_ text: String) throws(PostgresURLError) {
        guard let components = URLComponents(string: text), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else {
            throw PostgresURLError("store.url must look like postgres://user:password@host:5432/database, got \"\(Self.redact(text))\"")
        }
        let user = components.user?.removingPercentEncoding ?? "baton"
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let database = path.isEmpty ? user : path
        let sslmode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        let connectionTLS: PostgresConnection.Configuration.TLS
        switch sslmode {
        case "disable": (tls, connectionTLS) = (.disable, .disable)
        case "prefer": (tls, connectionTLS) = (.prefer(.makeClientConfiguration()), .prefer(try Self.context()))
        case "require": (tls, connectionTLS) = (.require(.makeClientConfiguration()), .require(try Self.context()))
        default: throw PostgresURLError("store.url's sslmode must be disable, prefer or require, got \"\(sslmode)\"")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password?.removingPercentEncoding,
            database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(3)
        configuration.options.maximumConnections = 16
        configuration.options.additionalStartupParameters = Self.serverLimits
        self.configuration = configuration
        self.connection = PostgresConnection.Configuration(
            host: host, port: components.port ?? 5432, username: user, password: components.password?.removingPercentEncoding,
            database: database, tls: connectionTLS)
        self.redacted = Self.redact(text)
    }

    /// Whether `text` asks for PostgreSQL rather than SQLite.
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    private static func context() throws(PostgresURLError) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: .makeClientConfiguration())
        } catch {
            throw PostgresURLError("TLS for store.url could not be set up: \(error)")
        }
    }

    /// `text` with its password replaced by `***`.
    public static func redact(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? text
    }
}

/// A `store.url` that cannot be used.
public struct PostgresURLError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
