import CoreMetrics
import Logging
import NIOCore
import Synchronization

/// Every open connection of the chat API, shared by all event loops: keeps their number
/// under a maximum by closing the longest idle ones first, and counts what happens.
///
/// Each connection's ``ConnectionGuard`` reports its phase here and enforces its own
/// deadlines; the choices are ``ConnectionTable``'s.
public final class ConnectionRegistry: Sendable {
    /// Bounds on connections.
    public struct Limits: Sendable, Equatable {
        /// Open connections beyond which one is closed to make room.
        public var maxConnections: Int
        /// Time a client has to send a whole request, head and body, from its first byte.
        public var requestTimeout: TimeAmount
        /// Time a connection may wait for its next request.
        public var idleTimeout: TimeAmount

        /// Timeouts in seconds, as configured.
        public init(maxConnections: Int, requestTimeout: Double, idleTimeout: Double) {
            self.maxConnections = maxConnections
            self.requestTimeout = .nanoseconds(Int64((requestTimeout * 1e9).rounded()))
            self.idleTimeout = .nanoseconds(Int64((idleTimeout * 1e9).rounded()))
        }
    }

    /// Why Baton closed a connection; the `reason` label of `baton_connections_closed_total`.
    public enum CloseReason: String, Sendable, CaseIterable {
        /// It waited longer than the idle timeout for a request.
        case idle
        /// Its request took longer than the request timeout to arrive.
        case slow
        /// It left its answers unread (the connection took no more) for the request timeout.
        case stalled
        /// It was the longest idle (or slowest) connection when a new one came at the maximum.
        case evicted
        /// It came at the maximum when no connection could make room.
        case refused
    }

    public let limits: Limits
    private let logger: Logger
    private let state: Mutex<State>
    private let openGauge: Gauge
    private let accepted: Counter
    private let closes: [CloseReason: Counter]

    private struct State {
        var table: ConnectionTable
        var channels: [ConnectionTable.ID: any Channel] = [:]
        /// Connections that have not sent a byte yet.
        var silent: Set<ConnectionTable.ID> = []
        /// Connections accepted and not yet handed to the accept loop.
        var arriving = 0
        /// Connections accepted whose guard has not registered them yet: NIO activates an
        /// accepted connection only after handing it to the accept loop, so one can be in
        /// neither `arriving` nor `silent` for a moment.
        var unregistered = 0
        var nextID: ConnectionTable.ID = 0
        /// When the maximum was last reported in the log (uptime nanoseconds).
        var lastFullWarning: UInt64 = 0
    }

    /// Registers the metrics with `factory`; every series starts at 0.
    public init(limits: Limits, logger: Logger, metricsFactory: any MetricsFactory) {
        self.limits = limits
        self.logger = logger
        state = Mutex(State(table: ConnectionTable(maximum: limits.maxConnections)))
        openGauge = Gauge(label: "baton_connections_open", factory: metricsFactory)
        accepted = Counter(label: "baton_connections_accepted_total", factory: metricsFactory)
        closes = Dictionary(
            uniqueKeysWithValues: CloseReason.allCases.map {
                ($0, Counter(label: "baton_connections_closed_total", dimensions: [("reason", $0.rawValue)], factory: metricsFactory))
            })
        let maximum = Gauge(label: "baton_connections_max", factory: metricsFactory)
        maximum.record(limits.maxConnections)
        openGauge.record(0)
        accepted.increment(by: 0)
        for counter in closes.values { counter.increment(by: 0) }
    }

    /// Open connections now.
    public var openCount: Int { state.withLock { $0.table.count } }

    /// Takes a new connection in; nil when it must be refused (the caller closes it).
    /// Closes the connection chosen to make room, if any.
    func open(_ channel: any Channel) -> ConnectionTable.ID? {
        let (id, victim, full) = state.withLock { state -> (ConnectionTable.ID?, (any Channel)?, Bool) in
            state.unregistered = max(state.unregistered - 1, 0)
            state.nextID += 1
            let id = state.nextID
            switch state.table.open(id) {
            case .refuse:
                return (nil, nil, reportFull(&state))
            case .accept(let evicting):
                state.channels[id] = channel
                state.silent.insert(id)
                var victim: (any Channel)?
                if let evicting {
                    victim = state.channels.removeValue(forKey: evicting)
                    state.silent.remove(evicting)
                }
                openGauge.record(state.table.count)
                return (id, victim, victim != nil && reportFull(&state))
            }
        }
        if full {
            logger.warning(
                "Connection limit reached: closing the longest idle connections to make room, refusing new ones when none is idle",
                metadata: ["baton.max_connections": "\(limits.maxConnections)"])
        }
        guard let id else {
            closes[.refused]?.increment()
            return nil
        }
        accepted.increment()
        if let victim {
            closes[.evicted]?.increment()
            victim.close(promise: nil)
        }
        return id
    }

    /// `id` is now in `phase`.
    func update(_ id: ConnectionTable.ID, to phase: ConnectionTable.Phase) {
        state.withLock { $0.table.update(id, to: phase) }
    }

    /// The listener accepted a connection. Until it has been handed to the accept loop
    /// (``arrived()``), closing the listener could drop it unserved (apple/swift-nio#2813);
    /// until its guard registers it (``open(_:)``) or gives up (``abandoned()``), a
    /// shutdown would not know to wait for its request.
    func arriving() {
        state.withLock {
            $0.arriving += 1
            $0.unregistered += 1
        }
    }

    /// An accepted connection reached the accept loop, set up (its guard may register it
    /// a moment later).
    func arrived() {
        state.withLock { $0.arriving = max($0.arriving - 1, 0) }
    }

    /// An accepted connection closed before its guard registered it.
    func abandoned() {
        state.withLock { $0.unregistered = max($0.unregistered - 1, 0) }
    }

    /// `id` has sent its first byte.
    func spoke(_ id: ConnectionTable.ID) {
        _ = state.withLock { $0.silent.remove(id) }
    }

    /// Whether a connection is open that has not sent anything yet, or one is accepted and
    /// not yet registered: one accepted just before a shutdown, whose request may still
    /// be on its way.
    public var hasSilentConnections: Bool {
        state.withLock { !$0.silent.isEmpty || $0.arriving > 0 || $0.unregistered > 0 }
    }

    /// Baton is closing `id` for `reason` (a deadline passed).
    func closing(_ id: ConnectionTable.ID, reason: CloseReason) {
        closes[reason]?.increment()
    }

    /// `id` has closed, by whichever side.
    func closed(_ id: ConnectionTable.ID) {
        state.withLock { state in
            state.table.close(id)
            state.channels[id] = nil
            state.silent.remove(id)
            openGauge.record(state.table.count)
        }
    }

    /// Whether to log that the maximum was reached: at most once a minute.
    private func reportFull(_ state: inout State) -> Bool {
        let now = NIODeadline.now().uptimeNanoseconds
        guard state.lastFullWarning == 0 || now - state.lastFullWarning >= 60_000_000_000 else { return false }
        state.lastFullWarning = now
        return true
    }
}
