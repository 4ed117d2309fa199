/// A wait in a test that did not end in time; says what was awaited.
public struct TimeoutError: Error, CustomStringConvertible {
    public let description: String

    public init(_ what: String, after timeout: Duration) {
        description = "timed out after \(timeout) waiting for \(what)"
    }

    public init(_ description: String) {
        self.description = description
    }
}

/// Runs `operation`, cancelling it and throwing ``TimeoutError`` once `timeout` passes.
///
/// The timeout only bounds a wait that should end by itself; it never decides an outcome.
public func withTimeout<T: Sendable>(
    _ timeout: Duration,
    waitingFor what: String,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TimeoutError(what, after: timeout)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Re-checks `check` until it returns a value, failing with ``TimeoutError`` after `timeout`.
///
/// Only for state owned by another process that offers no way to be told of a change
/// (`systemctl show`, `/v1/status`); everything that can be awaited as an event is.
public func eventually<T: Sendable>(
    _ what: String,
    timeout: Duration,
    interval: Duration = .milliseconds(25),
    _ check: @escaping @Sendable () async throws -> T?
) async throws -> T {
    try await withTimeout(timeout, waitingFor: what) {
        while true {
            if let value = try await check() { return value }
            try await Task.sleep(for: interval)
        }
    }
}
