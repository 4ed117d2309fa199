import BatonCore
import CoreMetrics

/// What the Matrix adapter counts, beside the gateway's metrics in the same registry.
///
/// Every series exists from the start at 0.
final class MatrixMetrics: Sendable {
    enum Operation: String, CaseIterable {
        case sync, send
    }

    private let received: Counter
    private let delivered: [SessionEvent.Kind: Counter]
    private let retries: [Operation: Counter]
    private let syncLag: Gauge
    private let backlog: Gauge

    init(factory: any MetricsFactory) {
        received = Counter(label: "baton_matrix_messages_received_total", factory: factory)
        delivered = [
            .reply: Counter(label: "baton_matrix_events_delivered_total", dimensions: [("kind", "reply")], factory: factory),
            .notice: Counter(label: "baton_matrix_events_delivered_total", dimensions: [("kind", "notice")], factory: factory),
        ]
        retries = Dictionary(
            uniqueKeysWithValues: Operation.allCases.map {
                ($0, Counter(label: "baton_matrix_retries_total", dimensions: [("operation", $0.rawValue)], factory: factory))
            })
        syncLag = Gauge(label: "baton_matrix_sync_lag_seconds", factory: factory)
        backlog = Gauge(label: "baton_matrix_delivery_backlog", factory: factory)
        syncLag.record(0)
        backlog.record(0)
    }

    /// A person's message was read from a room; `age` is how long ago the homeserver got it.
    func received(age: Double) {
        received.increment()
        syncLag.record(max(0, age))
    }

    func delivered(_ kind: SessionEvent.Kind) {
        delivered[kind]?.increment()
    }

    func retried(_ operation: Operation) {
        retries[operation]?.increment()
    }

    func backlog(_ count: Int) {
        backlog.record(count)
    }
}
