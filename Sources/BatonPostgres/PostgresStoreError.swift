import PostgresNIO

/// A PostgreSQL failure told in words an operator can act on: postgres-nio's own
/// description hides the server's message.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String
    /// The server's SQLSTATE, when it said one.
    public private(set) var sqlState: String?

    /// A deadlock or a serialization failure: the transaction may simply be run again.
    public var isRetryable: Bool { sqlState == "40P01" || sqlState == "40001" }

    public init(_ error: any Error) {
        if let error = error as? PostgresStoreError {
            description = error.description
            sqlState = error.sqlState
        } else if let error = error as? PostgresTransactionError {
            let inner = (error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError).map(PostgresStoreError.init)
            description = inner?.description ?? "PostgreSQL: the transaction failed"
            sqlState = inner?.sqlState
        } else if let error = error as? PSQLError {
            sqlState = error.serverInfo?[.sqlState]
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

    init(message: String) {
        description = message
    }
}
