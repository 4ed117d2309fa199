import GRDB
import GRDBSQLite

extension Statement {
    /// Runs the statement once with `values` bound to its parameters, in order.
    ///
    /// For the statements every message runs: GRDB's `execute(arguments:)` first builds
    /// `StatementArguments`, an array of existentials that is checked and copied on every
    /// call. Here each value binds itself. The values must match the statement's
    /// parameters in number, which this checks.
    func execute<each Value: StatementBinding>(binding values: repeat each Value) throws {
        // Resets the statement and clears its bindings (a statement that failed is not
        // reused: GRDB drops it from its cache).
        setUncheckedArguments(StatementArguments())
        var index: CInt = 0
        for value in repeat each values {
            index += 1
            let code = value.bind(to: sqliteStatement, at: index)
            guard code == SQLITE_OK else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "parameter \(index) could not be bound", sql: sql)
            }
        }
        let parameters = sqlite3_bind_parameter_count(sqliteStatement)
        precondition(index == parameters, "\(index) values for \(parameters) parameters in \(sql)")
        try execute()
    }
}
