import CoreMetrics
import Synchronization

/// The gateway's metrics: messages, turns, drains, agent health and recovery.
///
/// Made once per ``Gateway`` through the factory it is given, never through the global
/// `MetricsSystem`: each application (and each test) reads its own registry. The gateway
/// calls one method at each point where something happens; gauges follow the
/// scheduler's counts through ``observe(inFlight:queued:health:)``, which the gateway
/// calls on every status change.
///
/// Names start with `baton_`; counters end in `_total`. Every series, each label value
/// included, exists from the start at 0, so that a dashboard or `grep` finds it before
/// the first event and `rate()` sees the first one.
public final class GatewayMetrics: Sendable {
    /// Why a message was refused; the `reason` label of `baton_messages_rejected_total`.
    public enum Rejection: String, Sendable, CaseIterable {
        /// `busy_input: reject` and the session was busy (503).
        case busy
        /// `busy_input: reject` during a drain (503).
        case draining
        /// The session's queue was full (429).
        case queueFull = "queue_full"
        /// The body was not a valid message (400).
        case invalid
        /// The body was over `limits.max_message_bytes` (413).
        case tooLarge = "too_large"
    }

    /// Why a turn failed; the `reason` label of `baton_turns_failed_total`.
    enum FailureReason: String, CaseIterable {
        case agentFailed = "agent_failed"
        case turnTimeout = "turn_timeout"
        case agentUnreachable = "agent_unreachable"
        /// The turn's task was lost; the reconciler ended it.
        case lost
    }

    /// Why a turn was interrupted; the `cause` label of `baton_turns_interrupted_total`.
    enum InterruptionCause: String, CaseIterable {
        /// A drain: the next process runs it again.
        case drain
        /// A newer message under `busy_input: interrupt`.
        case superseded
        /// The session's lease ran out: whoever takes the session runs it again.
        case leaseLost = "lease_lost"
    }

    private static let drainReasons: [DrainReason] = [.restart, .stop]
    private static let healthStates: [AgentHealth] = [.starting, .ready, .degraded, .offline]

    private let accepted: Counter
    private let queued: Counter
    private let rejected: [Rejection: Counter]
    private let turnsStarted: Counter
    private let turnsFinished: Counter
    private let turnsFailed: [FailureReason: Counter]
    private let turnsInterrupted: [InterruptionCause: Counter]
    private let inFlight: Gauge
    private let queueDepth: Gauge
    private let drains: [DrainReason: Counter]
    private let restartsRefused: Counter
    private let drainDurations: [DrainReason: Timer]
    private let agentHealth: [AgentHealth: Gauge]
    private let recoveredTurns: Counter
    private let recoveredMessages: Counter
    private let leasesAcquired: Counter
    private let leasesTakenOver: Counter
    private let leasesExpired: Counter
    private let leasesHeld: Gauge
    /// When the drain under way began; nil while serving.
    private let drainStart = Mutex<ContinuousClock.Instant?>(nil)
    /// The agent's health the gauges last showed: they change only when it does.
    private let recordedHealth = Mutex<AgentHealth?>(nil)

    /// The histogram of drain durations; its buckets are the factory's to choose.
    public static let drainDurationLabel = "baton_drain_duration_seconds"

    /// Registers every metric with `factory`.
    public init(factory: any MetricsFactory) {
        func counters<Key: RawRepresentable & Hashable>(_ label: String, _ dimension: String, _ keys: [Key]) -> [Key: Counter]
        where Key.RawValue == String {
            Dictionary(uniqueKeysWithValues: keys.map { ($0, Counter(label: label, dimensions: [(dimension, $0.rawValue)], factory: factory)) })
        }
        accepted = Counter(label: "baton_messages_accepted_total", factory: factory)
        queued = Counter(label: "baton_messages_queued_total", factory: factory)
        rejected = counters("baton_messages_rejected_total", "reason", Rejection.allCases)
        turnsStarted = Counter(label: "baton_turns_started_total", factory: factory)
        turnsFinished = Counter(label: "baton_turns_finished_total", factory: factory)
        turnsFailed = counters("baton_turns_failed_total", "reason", FailureReason.allCases)
        turnsInterrupted = counters("baton_turns_interrupted_total", "cause", InterruptionCause.allCases)
        inFlight = Gauge(label: "baton_turns_in_flight", factory: factory)
        queueDepth = Gauge(label: "baton_queue_depth", factory: factory)
        drains = counters("baton_drains_total", "reason", Self.drainReasons)
        restartsRefused = Counter(label: "baton_restarts_refused_total", factory: factory)
        drainDurations = Dictionary(
            uniqueKeysWithValues: Self.drainReasons.map {
                ($0, Timer(label: Self.drainDurationLabel, dimensions: [("reason", $0.rawValue)], factory: factory))
            })
        agentHealth = Dictionary(
            uniqueKeysWithValues: Self.healthStates.map { ($0, Gauge(label: "baton_agent_health", dimensions: [("health", $0.rawValue)], factory: factory)) })
        recoveredTurns = Counter(label: "baton_recovered_turns_total", factory: factory)
        recoveredMessages = Counter(label: "baton_recovered_messages_total", factory: factory)
        leasesAcquired = Counter(label: "baton_leases_acquired_total", factory: factory)
        leasesTakenOver = Counter(label: "baton_leases_taken_over_total", factory: factory)
        leasesExpired = Counter(label: "baton_leases_expired_total", factory: factory)
        leasesHeld = Gauge(label: "baton_leases_held", factory: factory)
        leasesHeld.record(0)
        // Gauges have no value until recorded: show them at 0 from the start.
        observe(inFlight: 0, queued: 0, health: .starting)
    }

    // MARK: Leases

    /// A session's lease was taken; `takenOver` when a dead peer's ran out first.
    func leaseAcquired(takenOver: Bool) {
        leasesAcquired.increment()
        if takenOver { leasesTakenOver.increment() }
    }

    /// A lease of this process was taken by a peer before it was renewed.
    func leaseExpired() {
        leasesExpired.increment()
    }

    func observe(leasesHeld count: Int) {
        leasesHeld.record(count)
    }

    // MARK: Messages

    /// A message was stored; `status` says whether its turn starts now or it waits.
    func messageStored(_ status: Acknowledgement.Status) {
        (status == .accepted ? accepted : queued).increment()
    }

    /// A message was refused; nothing was stored.
    public func messageRejected(_ reason: Rejection) {
        rejected[reason]?.increment()
    }

    // MARK: Turns

    func turnsStarted(_ count: Int) {
        turnsStarted.increment(by: count)
    }

    func turnEnded(_ outcome: Gateway.TurnOutcome) {
        switch outcome {
        case .completed: turnsFinished.increment()
        case .interrupted(.drain): turnsInterrupted[.drain]?.increment()
        case .interrupted(.superseded): turnsInterrupted[.superseded]?.increment()
        case .interrupted(.leaseLost): turnsInterrupted[.leaseLost]?.increment()
        case .interrupted(.agentUnreachable): turnsFailed[.agentUnreachable]?.increment()
        case .failed(let error): turnsFailed[FailureReason(error.code)]?.increment()
        }
    }

    /// A turn whose task was lost was ended by the reconciler.
    func turnLost() {
        turnsFailed[.lost]?.increment()
    }

    // MARK: State

    /// Follows the scheduler's counts and the agent's health.
    func observe(inFlight: Int, queued: Int, health: AgentHealth) {
        self.inFlight.record(inFlight)
        queueDepth.record(queued)
        let changed = recordedHealth.withLock { recorded in
            defer { recorded = health }
            return recorded != health
        }
        if changed {
            for (state, gauge) in agentHealth { gauge.record(state == health ? 1 : 0) }
        }
    }

    /// A restart was refused: the next process would not start.
    func restartRefused() {
        restartsRefused.increment()
    }

    /// Counts a drain when it begins and records how long it took when it finishes,
    /// under the reason it finished with (a stop may overtake a restart).
    func drainAction(_ action: DrainStateMachine.Action) {
        switch action {
        case .beginDrain(let reason, _), .beginDrainAndInterrupt(let reason, _):
            drains[reason]?.increment()
            drainStart.withLock { $0 = .now }
        case .finish(let reason):
            let start = drainStart.withLock { start in
                defer { start = nil }
                return start
            }
            // Nothing was in flight: the drain began and finished at once.
            if start == nil { drains[reason]?.increment() }
            let elapsed = start.map { ContinuousClock.now - $0 } ?? .zero
            drainDurations[reason]?.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        case .none, .changeReason, .interruptAll:
            break
        }
    }

    /// What the previous process left: `messages` pending, of which `interruptedTurns`
    /// were turns cut short (by a drain's deadline or a crash) that run again now.
    func recovered(messages: Int, interruptedTurns: Int) {
        recoveredMessages.increment(by: messages)
        recoveredTurns.increment(by: interruptedTurns)
    }
}

extension GatewayMetrics.FailureReason {
    init(_ code: AgentError.Code) {
        switch code {
        case .agentFailed: self = .agentFailed
        case .turnTimeout: self = .turnTimeout
        case .agentUnreachable: self = .agentUnreachable
        }
    }
}
