import Synchronization

/// Lines a test agent printed, and waits for the ones a test expects.
final class OutputLines: Sendable {
    private struct Waiter {
        var predicate: @Sendable (String) -> Bool
        var continuation: CheckedContinuation<String, any Error>
    }

    private struct State {
        var lines: [String] = []
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        var finished = false
    }

    private let state = Mutex(State())

    func append(_ line: String) {
        let ready = state.withLock { state in
            state.lines.append(line)
            let ready = state.waiters.filter { $0.value.predicate(line) }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: line) }
    }

    /// The output ended: nobody waits for more.
    func finish() {
        let waiting = state.withLock { state in
            state.finished = true
            defer { state.waiters = [:] }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in waiting { continuation.resume(throwing: TestFailure("The test agent's output ended")) }
    }

    /// How many times `line` was printed so far.
    func count(of line: String) -> Int {
        state.withLock { $0.lines.count { $0 == line } }
    }

    /// Waits until `line` was printed `times` times in all (before the call or after).
    func wait(for line: String, times: Int, timeout: Duration = .seconds(20)) async throws {
        final class Seen: Sendable { let count = Mutex(0) }
        let seen = Seen()
        _ = try await first("\"\(line)\" \(times) times", timeout: timeout) { printed in
            guard printed == line else { return false }
            return seen.count.withLock { count in
                count += 1
                return count >= times
            }
        }
    }

    /// Waits for `line` to be printed (before the call or after).
    func wait(for line: String, timeout: Duration = .seconds(20)) async throws {
        _ = try await first("\"\(line)\"", timeout: timeout) { $0 == line }
    }

    /// The first line `predicate` accepts, printed before the call or after.
    func first(
        _ what: String, timeout: Duration = .seconds(20), where predicate: @escaping @Sendable (String) -> Bool
    ) async throws -> String {
        try await withTimeout(timeout, "the test agent to print \(what)") {
            let id = self.state.withLock { state in
                defer { state.nextWaiter += 1 }
                return state.nextWaiter
            }
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
                    let now: Result<String, any Error>? = self.state.withLock { state in
                        if let line = state.lines.first(where: predicate) { return .success(line) }
                        if state.finished { return .failure(TestFailure("The test agent's output ended")) }
                        if Task.isCancelled { return .failure(CancellationError()) }
                        state.waiters[id] = Waiter(predicate: predicate, continuation: continuation)
                        return nil
                    }
                    if let now { continuation.resume(with: now) }
                }
            } onCancel: {
                let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.continuation.resume(throwing: CancellationError())
            }
        }
    }
}
