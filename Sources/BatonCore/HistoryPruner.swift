import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle

/// Keeps the store's history to `store.retention`: every pass deletes finished messages
/// and events older than that, in small batches, each its own short transaction.
///
/// Off the hot path: nothing waits on it, a batch holds the store's writer for one small
/// transaction, and a pause between batches leaves the writer to the message path while a
/// long backlog (the first pass over months of history) is worked off. The first pass
/// runs soon after start, so a gateway restarted more often than ``interval`` still
/// prunes. Every process of a shared store runs one; they skip each other's rows.
public struct HistoryPruner: Service {
    let store: any Store
    let retention: Duration
    /// Time between passes: an hour, or a tenth of the retention when that is shorter.
    let interval: Duration
    let firstPassDelay: Duration
    let batchSize: Int
    let pause: Duration
    let logger: Logger
    let prunedMessages: Counter
    let prunedEvents: Counter

    /// What one pass removed.
    public struct Pass: Sendable, Equatable {
        public var messages = 0
        public var events = 0
        public var batches = 0
    }

    public init(
        store: any Store, retention: Duration, firstPassDelay: Duration = .seconds(10), batchSize: Int = 500,
        pause: Duration = .milliseconds(20), logger: Logger, metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        self.store = store
        self.retention = retention
        self.interval = min(.seconds(3600), retention / 10)
        self.firstPassDelay = min(firstPassDelay, interval)
        self.batchSize = batchSize
        self.pause = pause
        self.logger = logger
        prunedMessages = Counter(label: "baton_store_pruned_total", dimensions: [("kind", "messages")], factory: metricsFactory)
        prunedEvents = Counter(label: "baton_store_pruned_total", dimensions: [("kind", "events")], factory: metricsFactory)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var wait = firstPassDelay
            while true {
                do { try await Task.sleep(for: wait) } catch { return }
                do {
                    _ = try await prunePass()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("History could not be pruned; trying again next pass", metadata: ["baton.error": "\(error)"])
                }
                wait = interval
            }
        }
    }

    /// Deletes, batch by batch, what is older than the retention at `now`; returns what
    /// it deleted. Stops early, throwing `CancellationError`, when cancelled.
    public func prunePass(now: Date = Date()) async throws -> Pass {
        let cutoff = now.addingTimeInterval(-retention.seconds)
        var pass = Pass()
        var after: Int64 = 0
        while true {
            let batch = try await store.prune(before: cutoff, after: after, limit: batchSize)
            pass.batches += 1
            pass.messages += batch.messages
            pass.events += batch.events
            prunedMessages.increment(by: Int64(batch.messages))
            prunedEvents.increment(by: Int64(batch.events))
            after = batch.examinedThrough
            guard batch.hasMore else { break }
            try await Task.sleep(for: pause)
        }
        if pass.messages + pass.events > 0 {
            logger.info(
                "History pruned",
                metadata: [
                    "baton.messages": "\(pass.messages)", "baton.events": "\(pass.events)", "baton.batches": "\(pass.batches)",
                    "baton.before": "\(cutoff)",
                ])
        }
        return pass
    }
}
