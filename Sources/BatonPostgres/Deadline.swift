import BatonCore
import Synchronization

/// Raised when PostgreSQL did not answer in time (it is down, unreachable, or a query
/// waits on a lock). A commit that timed out may still be committed later.
public struct PostgresTimeoutError: CommitOutcomeUnknown, CustomStringConvertible {
    public let seconds: Int64
    public var description: String { "PostgreSQL did not answer within \(seconds) s" }
}

/// Runs `operation`, throwing ``PostgresTimeoutError`` after `limit` whether or not it
/// has finished, and cancelling it then.
///
/// postgres-nio's pool keeps a request waiting while it reconnects, and a query waiting on
/// a lock does not stop when cancelled; a request from a client must instead fail soon and
/// clearly, so every store and lease operation goes through here. The operation runs on a
/// task of its own, so the caller is not held until it ends.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = DeadlineRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.start(continuation)
            let work = Task {
                do {
                    race.finish(.success(try await operation()))
                } catch is CancellationError {
                    race.finish(.failure(CancellationError()))
                } catch {
                    // postgres-nio's own description hides the server's message.
                    race.finish(.failure(PostgresStoreError(error)))
                }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled { race.finish(.failure(PostgresTimeoutError(seconds: limit.components.seconds))) }
            }
            race.whenFinished {
                work.cancel()
                timer.cancel()
            }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// Whichever ends first of an operation, its deadline and the caller's cancellation: the
/// first result resumes the caller; the later ones are dropped.
private final class DeadlineRace<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var result: Result<T, any Error>?
        var onFinish: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            guard let result = state.result else {
                state.continuation = continuation
                return nil
            }
            return result
        }
        // Cancelled before it started.
        if let early { continuation.resume(with: early) }
    }

    /// Runs `action` once the race is decided (at once if it already is).
    func whenFinished(_ action: @escaping @Sendable () -> Void) {
        let decided = state.withLock { state -> Bool in
            guard state.result == nil else { return true }
            state.onFinish = action
            return false
        }
        if decided { action() }
    }

    func finish(_ result: Result<T, any Error>) {
        let (continuation, onFinish) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?) in
            guard state.result == nil else { return (nil, nil) }
            state.result = result
            defer { (state.continuation, state.onFinish) = (nil, nil) }
            return (state.continuation, state.onFinish)
        }
        continuation?.resume(with: result)
        onFinish?()
    }
}
