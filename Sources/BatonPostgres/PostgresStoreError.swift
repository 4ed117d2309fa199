import PostgresNIO

/// A PostgreSQL failure told in words an operator can act on: postgres-nio's own
/// description hides the server's message.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String
    /// The server's SQLSTATE, when it said one.
    public private(set) var sqlState: String?
    /// Whether no server was reached or the connection broke: nothing that waiting cannot
    /// mend (a TLS or authentication failure is not).
    public private(set) var isOutOfReach = false

    /// A deadlock or a serialization failure: the transaction may simply be run again.
    public var isRetryable: Bool { sqlState == "40P01" || sqlState == "40001" }

    /// Whether the database was out of reach rather than refusing: no server answered
    /// (refused, timed out, a name not resolved yet), the connection broke, a connection
    /// failed (SQLSTATE class 08), the server is starting or shutting down (57P03) or full
    /// (53300). A wrong password or database name, a TLS failure, is not: waiting would
    /// not mend it.
    public var mayComeBack: Bool {
        guard let sqlState else { return isOutOfReach }
        return sqlState.hasPrefix("08") || sqlState == "57P03" || sqlState == "53300"
    }

    public init(_ error: any Error) {
        if let error = error as? PostgresStoreError {
            description = error.description
            sqlState = error.sqlState
            isOutOfReach = error.isOutOfReach
        } else if let error = error as? PostgresTransactionError {
            let inner = (error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError).map(PostgresStoreError.init)
            description = inner?.description ?? "PostgreSQL: the transaction failed"
            sqlState = inner?.sqlState
            isOutOfReach = inner?.isOutOfReach ?? false
        } else if let error = error as? PSQLError {
            sqlState = error.serverInfo?[.sqlState]
            isOutOfReach = [.connectionError, .serverClosedConnection, .uncleanShutdown].contains(error.code)
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                description = "PostgreSQL: \(message)\(state)"
            } else {
                description = "PostgreSQL unreachable (\(error.code))"
            }
        } else {
            description = "PostgreSQL: \(error)"
        }
    }

    init(message: String, cause: PostgresStoreError? = nil) {
        description = message
        sqlState = cause?.sqlState
        isOutOfReach = cause?.isOutOfReach ?? false
    }
}
