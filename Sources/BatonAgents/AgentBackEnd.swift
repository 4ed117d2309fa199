import BatonCore
import Logging

/// An agent and what watches it: what `agent.kind` configures.
public struct AgentBackEnd: Sendable {
    /// Answers the turns.
    public let agent: any Agent
    /// The HTTP agent's liveness probe, when `agent.health_url` is set.
    public let probe: HTTPHealthProbe?
    /// Turns that could not reach the HTTP agent.
    public let failures: TransportFailures?
    /// Between probes and between reconciliations (`agent.health_interval`).
    public let interval: Duration

    public init(agent: any Agent, probe: HTTPHealthProbe? = nil, failures: TransportFailures? = nil, interval: Duration) {
        self.agent = agent
        self.probe = probe
        self.failures = failures
        self.interval = interval
    }

    /// The service that watches this back-end for `gateway`.
    public func monitor(gateway: Gateway, logger: Logger) -> AgentMonitor {
        AgentMonitor(gateway: gateway, probe: probe, failures: failures, interval: interval, logger: logger)
    }
}
