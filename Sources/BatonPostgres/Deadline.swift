/// Raised when PostgreSQL did not answer in time (it is down, or unreachable).
public struct PostgresTimeoutError: Error, CustomStringConvertible {
    public let seconds: Int64
    public var description: String { "PostgreSQL did not answer within \(seconds) s" }
}

/// Runs `operation`, cancelling it and throwing ``PostgresTimeoutError`` after `limit`.
///
/// postgres-nio's pool keeps a request waiting while it reconnects; a request from a client
/// must instead fail soon and clearly, so every store and lease operation goes through here.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        let first: T??
        do {
            first = try await group.next()
        } catch let error as PostgresTimeoutError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // postgres-nio's own description hides the server's message.
            throw PostgresStoreError(error)
        }
        guard let first else { throw CancellationError() }
        guard let value = first else { throw PostgresTimeoutError(seconds: limit.components.seconds) }
        return value
    }
}
