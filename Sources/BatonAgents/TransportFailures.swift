/// Turns that could not reach the HTTP agent, told to the ``AgentMonitor``.
///
/// A refused or broken connection says as much about the agent's health as a failed
/// probe does, and it may come while no probe is due: the monitor counts it as one, and
/// the agent, no longer `ready`, is probed until it answers again.
public struct TransportFailures: Sendable {
    let reports: AsyncStream<ContinuousClock.Instant>
    private let continuation: AsyncStream<ContinuousClock.Instant>.Continuation

    /// A feed with no reports yet; give it to the agent and to its monitor.
    public init() {
        // Only the newest few matter: each is one more failure in a row.
        (reports, continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(8))
    }

    /// A turn could not reach the agent at `instant`.
    func report(at instant: ContinuousClock.Instant = .now) {
        continuation.yield(instant)
    }
}
