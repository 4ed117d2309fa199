import Synchronization

/// A value that changes on other threads, with waiters that resume once it satisfies
/// their condition: the building block for awaiting events in tests without polling.
public final class ObservedState<State: Sendable>: Sendable {
    private struct Waiter {
        /// Resumes the waiter and answers true when `state` satisfies it.
        var resumeIfSatisfied: @Sendable (State) -> Bool
        var cancel: @Sendable () -> Void
    }

    private struct Storage {
        var state: State
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let storage: Mutex<Storage>

    public init(_ initial: State) {
        storage = Mutex(Storage(state: initial))
    }

    /// The current value.
    public var value: State { storage.withLock { $0.state } }

    /// Changes the value and resumes every waiter it now satisfies.
    public func update(_ change: (inout State) -> Void) {
        storage.withLock { storage in
            change(&storage.state)
            let state = storage.state
            storage.waiters = storage.waiters.filter { !$0.value.resumeIfSatisfied(state) }
        }
    }

    /// Suspends until `condition` returns a value for the current state; cancellation ends the wait.
    public func wait<T: Sendable>(until condition: @escaping @Sendable (State) -> T?) async throws -> T {
        let id = storage.withLock { storage in
            storage.nextWaiter += 1
            return storage.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                storage.withLock { storage in
                    if let value = condition(storage.state) {
                        continuation.resume(returning: value)
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        storage.waiters[id] = Waiter(
                            resumeIfSatisfied: { state in
                                guard let value = condition(state) else { return false }
                                continuation.resume(returning: value)
                                return true
                            },
                            cancel: { continuation.resume(throwing: CancellationError()) })
                    }
                }
            }
        } onCancel: {
            storage.withLock { $0.waiters.removeValue(forKey: id) }?.cancel()
        }
    }
}
