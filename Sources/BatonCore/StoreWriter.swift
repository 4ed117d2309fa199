import GRDB
import Logging
import ServiceLifecycle
import Synchronization

/// Commits store writes in groups: whatever gathered while the last commit synced goes
/// into the next transaction, so N concurrent requests cost one fsync, not N.
///
/// Nothing waiting on ``write(_:isolation:)`` resumes before its transaction is on disk.
/// Writes commit in the order they were submitted; committed events then go to the
/// ``EventBus`` in that order. On graceful shutdown everything submitted is committed
/// before ``run()`` returns, so list this service before the ones that write.
public final class StoreWriter: Service, Sendable {
    private struct Batch {
        var writes: [StoreWrite]
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private let store: Store
    private let bus: EventBus
    private let logger: Logger
    private struct Queue {
        var batches: [Batch] = []
        var closed = false
    }

    /// Raised for writes submitted after the writer stopped.
    public struct ClosedError: Error, CustomStringConvertible {
        public var description: String { "the store is closed: the process is exiting" }
    }

    private let pending = Mutex(Queue())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    public init(store: Store, bus: EventBus, logger: Logger) {
        self.store = store
        self.bus = bus
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Commits `writes` in one transaction and returns once they are on disk.
    ///
    /// The writes join the queue before the caller suspends, so two calls made one after
    /// the other from the same actor commit in that order.
    public func write(_ writes: [StoreWrite], isolation: isolated (any Actor)? = #isolation) async throws {
        try await withCheckedThrowingContinuation(isolation: isolation) { continuation in
            submit(Batch(writes: writes, waiter: continuation))
        }
    }

    /// Queues `writes` for the next commit without waiting for it.
    public func enqueue(_ writes: [StoreWrite]) {
        submit(Batch(writes: writes, waiter: nil))
    }

    private func submit(_ batch: Batch) {
        let accepted = pending.withLock { queue in
            if !queue.closed { queue.batches.append(batch) }
            return !queue.closed
        }
        if accepted {
            wake.yield()
        } else {
            logger.error("Write after the store closed", metadata: ["baton.writes": "\(batch.writes.count)"])
            batch.waiter?.resume(throwing: ClosedError())
        }
    }

    public func run() async throws {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            await commitPending()
        }
        // Shutdown: commit what the other services submitted on their way out.
        await commitPending()
        pending.withLock { $0.closed = true }
        await commitPending()
        logger.info("Store closed")
    }

    /// Commits everything submitted so far; returns once it is on disk or failed.
    func commitPending() async {
        while true {
            let batches = pending.withLock { queue in
                defer { queue.batches = [] }
                return queue.batches
            }
            if batches.isEmpty { return }
            await commit(batches)
        }
    }

    private func commit(_ batches: [Batch]) async {
        let failures: [Int: any Error]
        do {
            failures = try await store.pool.write { db in
                var failures: [Int: any Error] = [:]
                for (index, batch) in batches.enumerated() {
                    // A savepoint per batch: one bad batch fails alone.
                    do {
                        try db.inSavepoint {
                            for write in batch.writes { try Store.apply(write, in: db) }
                            return .commit
                        }
                    } catch {
                        failures[index] = error
                    }
                }
                return failures
            }
        } catch {
            logger.error("Store commit failed", metadata: ["baton.error": "\(error)", "baton.writes": "\(batches.count)"])
            for batch in batches { batch.waiter?.resume(throwing: error) }
            return
        }
        var committed: [SessionEvent] = []
        for (index, batch) in batches.enumerated() where failures[index] == nil {
            for write in batch.writes {
                switch write {
                case .appendEvent(let event), .appendReply(let event, _, _): committed.append(event)
                default: break
                }
            }
        }
        bus.publish(committed)
        for (index, batch) in batches.enumerated() {
            if let failure = failures[index] {
                logger.error("Store write failed", metadata: ["baton.error": "\(failure)"])
                batch.waiter?.resume(throwing: failure)
            } else {
                batch.waiter?.resume()
            }
        }
    }
}
