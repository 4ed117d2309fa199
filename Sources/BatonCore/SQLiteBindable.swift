import GRDBSQLite

/// A value ``GRDB/Statement/execute(binding:)`` binds to a statement parameter itself.
protocol SQLiteBindable {
    /// Binds the value to the parameter at `index` (1-based); SQLite's result code.
    func bind(to statement: OpaquePointer, at index: CInt) -> CInt
}

extension Int64: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: CInt) -> CInt { sqlite3_bind_int64(statement, index, self) }
}

extension Int: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: CInt) -> CInt { sqlite3_bind_int64(statement, index, Int64(self)) }
}

extension Double: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: CInt) -> CInt { sqlite3_bind_double(statement, index, self) }
}

extension String: SQLiteBindable {
    /// Bound from the string's UTF-8 storage, which SQLite copies.
    func bind(to statement: OpaquePointer, at index: CInt) -> CInt {
        var text = self
        return text.withUTF8 { bytes in
            // An empty buffer may have no address, and a null pointer would bind NULL.
            let start = bytes.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(Self.empty.utf8Start)
            return sqlite3_bind_text(statement, index, start.assumingMemoryBound(to: CChar.self), CInt(bytes.count), sqliteTransient)
        }
    }

    private static let empty: StaticString = ""
}

extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    func bind(to statement: OpaquePointer, at index: CInt) -> CInt {
        switch self {
        case .some(let value): value.bind(to: statement, at: index)
        case .none: sqlite3_bind_null(statement, index)
        }
    }
}

/// SQLite's `SQLITE_TRANSIENT`: it copies the value before the call returns.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
