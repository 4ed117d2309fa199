import PostgresNIO

/// A PostgreSQL failure told in words an operator can act on: postgres-nio's own
/// description hides the server's message.
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let description: String

    public init(_ error: any Error) {
        if let error = error as? PostgresStoreError {
            description = error.description
        } else if let error = error as? PostgresTransactionError {
            let inner = error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError
            description = inner.map { PostgresStoreError($0).description } ?? "PostgreSQL: the transaction failed"
        } else if let error = error as? PSQLError {
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
