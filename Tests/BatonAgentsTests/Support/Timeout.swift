/// A wait that took longer than the test allows.
struct TimeoutError: Error, CustomStringConvertible {
    let what: String
    let limit: Duration

    var description: String { "Waited \(limit) for \(what)" }
}

/// Runs `operation`, failing with ``TimeoutError`` if it has not finished within `limit`.
func withTimeout<T: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimeoutError(what: what, limit: limit)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Something a test expected that did not happen.
struct TestFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
