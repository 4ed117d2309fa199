/// The agent back-end's health, from probes and turns.
///
/// `starting` until the first success, then `ready`; a failure makes it `degraded`,
/// `agent.health_failure_threshold` failures in a row make it `offline`, and a fresh
/// success makes it `ready` again. Nothing moves it back to `starting`, and a failure
/// that began before the latest success is stale and ignored.
public struct AgentHealthTracker: Sendable, Equatable {
    public private(set) var health: AgentHealth
    public private(set) var consecutiveFailures = 0
    public let failureThreshold: Int
    private var lastSuccess: ContinuousClock.Instant?

    public init(initial: AgentHealth = .starting, failureThreshold: Int) {
        precondition(failureThreshold > 0)
        health = initial
        self.failureThreshold = failureThreshold
    }

    /// Records a probe or turn that began at `startedAt`; returns the health after it.
    @discardableResult
    public mutating func record(succeeded: Bool, startedAt: ContinuousClock.Instant) -> AgentHealth {
        if succeeded {
            if let lastSuccess, lastSuccess > startedAt { return health }
            lastSuccess = startedAt
            consecutiveFailures = 0
            health = .ready
        } else {
            if let lastSuccess, startedAt < lastSuccess { return health }
            consecutiveFailures += 1
            health = consecutiveFailures >= failureThreshold ? .offline : .degraded
        }
        return health
    }
}
