/// Turns that could not reach the HTTP agent, told to the ``AgentMonitor``.
///
/// A refused or broken connection says something of the agent's health, and it may come
/// while no probe is due: the monitor counts it towards `offline`, and the agent, no
/// longer `ready`, is probed until it answers again. Only those probes fail other turns.
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
