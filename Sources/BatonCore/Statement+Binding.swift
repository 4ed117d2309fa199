import GRDB
import GRDBSQLite

extension Statement {
    /// Runs the statement once with `values` bound to its parameters, in order, through
    /// SQLite's C interface: bind, step, reset.
    ///
    /// For the statements every message runs. GRDB's `execute(arguments:)` first builds
    /// `StatementArguments`, an array of existentials that is checked and copied on every
    /// call, then checks the database's state around the step; its `String` binding
    /// copies the text into a C string and measures it again. Here each value binds
    /// itself from its UTF-8 storage. Only for statements that change rows, inside a
    /// transaction: a schema change or transaction control goes through GRDB, which keeps
    /// track of them. The values must match the statement's parameters in number, which
    /// this checks.
    func execute<each Value: SQLiteBindable>(binding values: repeat each Value) throws {
        let statement = sqliteStatement
        // Reset after every run, so a failed one leaves the statement ready for the next.
        defer { sqlite3_reset(statement) }
        try bind(repeat each values)
        try step(until: SQLITE_DONE)
    }

    /// Runs the query with `values` bound to its parameters, calling `row` with the
    /// statement for each row (its columns read with `sqlite3_column_*`) until it returns
    /// false or the rows end. A read in the write path, through SQLite's C interface too.
    func forEachRow<each Value: SQLiteBindable>(binding values: repeat each Value, row: (OpaquePointer) throws -> Bool) throws {
        let statement = sqliteStatement
        defer { sqlite3_reset(statement) }
        try bind(repeat each values)
        while try step(until: SQLITE_ROW), try row(statement) {}
    }

    private func bind<each Value: SQLiteBindable>(_ values: repeat each Value) throws {
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
    }

    /// One step: true when it gave `expected`, false when the statement is done, and an
    /// error for any other result.
    @discardableResult
    private func step(until expected: CInt) throws -> Bool {
        let code = sqlite3_step(sqliteStatement)
        if code == expected { return true }
        if code == SQLITE_DONE { return false }
        throw DatabaseError(
            resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(sqlite3_db_handle(sqliteStatement))), sql: sql)
    }
}
