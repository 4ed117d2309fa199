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
///
/// When a transaction fails as a whole (the database is unreachable, the disk is full),
/// writes someone waits for fail at once, and their callers answer for them (a POST gets
/// `503`); writes queued without waiting (a turn's state, its replies) are kept, first in
/// line, and committed again with backoff until the store takes them, so a turn's result
/// is never dropped while the process lives.
public final class StoreWriter: Service, Sendable {
    private struct Batch {
        var writes: [StoreWrite]
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private let store: any Store
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

    public init(store: any Store, bus: EventBus, logger: Logger) {
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
        await withTaskExecutorPreference(store.commitExecutor) {
            // Not `cancelOnGracefulShutdown()`: its merged sequence's cancellation handler
            // takes a lock of its own while the task's status is locked, and a job of this
            // task on the commit thread, waiting for that status, deadlocked against it
            // (seen once, with the task cancelled). The stream ends at graceful shutdown,
            // and, being an `AsyncStream`, on cancellation.
            await withGracefulShutdownHandler {
                for await _ in wakeups { await commitPending() }
            } onGracefulShutdown: { [wake] in
                wake.finish()
            }
            // Shutdown: commit what the other services submitted on their way out.
            await commitPending()
            pending.withLock { $0.closed = true }
            await commitPending()
        }
        logger.info("Store closed")
    }

    /// Commits everything submitted so far; returns once it is on disk, or, for writes
    /// someone waits for, failed. Writes nobody waits for are retried until they commit,
    /// for at most ``shutdownPatience`` once the process is shutting down.
    func commitPending() async {
        var backoff = RetryBackoff(initial: .milliseconds(100), maximum: .seconds(2))
        var giveUpAt: ContinuousClock.Instant?
        while true {
            let batches = pending.withLock { queue in
                defer { queue.batches = [] }
                return queue.batches
            }
            if batches.isEmpty { return }
            if await commit(batches) {
                if backoff.failures > 0 {
                    logger.notice("Store commits again", metadata: ["baton.attempts": "\(backoff.failures + 1)"])
                }
                backoff.succeeded()
                continue
            }
            let kept = batches.filter { $0.waiter == nil }
            guard !kept.isEmpty else { continue }
            if Task.isShuttingDownGracefully || Task.isCancelled {
                giveUpAt = giveUpAt ?? .now + Self.shutdownPatience
            }
            if let giveUpAt, ContinuousClock.now >= giveUpAt || Task.isCancelled {
                // The next process (or a peer) runs those turns again from the stored state.
                logger.error(
                    "Store writes dropped at shutdown: the store did not take them",
                    metadata: ["baton.writes": "\(kept.reduce(0) { $0 + $1.writes.count })"])
                continue
            }
            pending.withLock { $0.batches = kept + $0.batches }
            try? await Task.sleep(for: backoff.failed())
        }
    }

    /// How long a shutdown keeps retrying writes the store refuses.
    static let shutdownPatience: Duration = .seconds(5)

    /// One transaction for `batches`; false when it failed as a whole (nothing committed).
    private func commit(_ batches: [Batch]) async -> Bool {
        let results: [Result<[SessionEvent], any Error>]
        do {
            results = try await store.commit(batches.map(\.writes))
        } catch {
            let kept = batches.filter { $0.waiter == nil }.count
            logger.error(
                "Store commit failed",
                metadata: ["baton.error": "\(error)", "baton.groups": "\(batches.count)", "baton.kept_for_retry": "\(kept)"])
            for batch in batches { batch.waiter?.resume(throwing: error) }
            return false
        }
        var committed: [SessionEvent] = []
        for case .success(let events) in results { committed += events }
        bus.publish(committed)
        for (batch, result) in zip(batches, results) {
            switch result {
            case .success: batch.waiter?.resume()
            case .failure(let failure):
                logger.error("Store write failed", metadata: ["baton.error": "\(failure)"])
                batch.waiter?.resume(throwing: failure)
            }
        }
        return true
    }
}
