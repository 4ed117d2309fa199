/// The drain: from the first restart or stop request to the moment the process may exit.
///
/// A pure state machine. A second request changes nothing but this: stop wins over
/// restart (until the process exits), and an immediate request (`--now`, `/restart now`, a second SIGTERM/SIGINT)
/// interrupts in-flight turns at once.
public struct DrainStateMachine: Sendable, Equatable {
    public enum Phase: Sendable, Equatable {
        case serving
        /// Waiting for in-flight turns; `interrupting` once they have been told to stop.
        case draining(reason: DrainReason, deadline: ContinuousClock.Instant, interrupting: Bool)
        /// Nothing in flight: the process may exit.
        case finished(reason: DrainReason)
    }

    /// What the caller must do.
    public enum Action: Sendable, Equatable {
        case none
        /// Stop starting turns, tell systemd, wake at the deadline.
        case beginDrain(reason: DrainReason, deadline: ContinuousClock.Instant)
        /// A stop request overtook a restart drain.
        case changeReason(DrainReason)
        /// Interrupt every in-flight turn now.
        case interruptAll
        /// Begin a drain and interrupt at once.
        case beginDrainAndInterrupt(reason: DrainReason, deadline: ContinuousClock.Instant)
        /// Exit with the reason's status.
        case finish(reason: DrainReason)
    }

    public private(set) var phase: Phase = .serving

    public init() {}

    public var isServing: Bool { phase == .serving }

    public var reason: DrainReason? {
        switch phase {
        case .serving: nil
        case .draining(let reason, _, _), .finished(let reason): reason
        }
    }

    public var deadline: ContinuousClock.Instant? {
        if case .draining(_, let deadline, _) = phase { deadline } else { nil }
    }

    /// A restart or stop was asked for.
    public mutating func request(
        _ reason: DrainReason, immediate: Bool, inFlight: Int, now: ContinuousClock.Instant, timeout: Duration
    ) -> Action {
        switch phase {
        case .serving:
            let deadline = now + timeout
            if inFlight == 0 {
                phase = .finished(reason: reason)
                return .finish(reason: reason)
            }
            phase = .draining(reason: reason, deadline: deadline, interrupting: immediate)
            return immediate ? .beginDrainAndInterrupt(reason: reason, deadline: deadline) : .beginDrain(reason: reason, deadline: deadline)

        case .draining(let current, let deadline, let interrupting):
            let winner = max(current, reason)
            phase = .draining(reason: winner, deadline: deadline, interrupting: interrupting || immediate)
            if immediate && !interrupting { return .interruptAll }
            return winner != current ? .changeReason(winner) : .none

        case .finished(let current):
            // The process has not exited yet: a stop still keeps it from being restarted.
            guard reason > current else { return .none }
            phase = .finished(reason: reason)
            return .changeReason(reason)
        }
    }

    /// The drain deadline passed.
    public mutating func deadlinePassed() -> Action {
        guard case .draining(let reason, let deadline, false) = phase else { return .none }
        phase = .draining(reason: reason, deadline: deadline, interrupting: true)
        return .interruptAll
    }

    /// The number of in-flight turns changed.
    public mutating func inFlightChanged(to inFlight: Int) -> Action {
        guard case .draining(let reason, _, _) = phase, inFlight == 0 else { return .none }
        phase = .finished(reason: reason)
        return .finish(reason: reason)
    }
}
