import BatonCore
import Logging
import ServiceLifecycle

/// Watches the agent back-end beside the gateway, as a ``Service``.
///
/// - Probes the HTTP agent's `agent.health_url` every `agent.health_interval` while a
///   turn is in flight, and while the agent is not `ready` (so that an agent coming
///   back shows as `ready` without waiting for a message). Each probe is recorded with
///   ``Gateway/recordAgentProbe(succeeded:startedAt:)``, which fails the in-flight turns
///   once the agent goes `offline`.
/// - Counts a turn that could not reach the agent towards `offline`, as a failed probe
///   (``TransportFailures``), but only a failed probe fails the turns in flight.
/// - Every interval, returns sessions left busy by a lost turn to idle
///   (``Gateway/reconcile(suspects:)``).
///
/// Ends on graceful shutdown, which the group begins once the gateway has finished.
public struct AgentMonitor: Service {
    let gateway: Gateway
    let probe: HTTPHealthProbe?
    let failures: TransportFailures?
    let interval: Duration
    let logger: Logger

    /// - Parameters:
    ///   - probe: the HTTP agent's liveness probe; nil when there is none.
    ///   - failures: turns that could not reach the agent.
    ///   - interval: between probes, and between reconciliations.
    public init(gateway: Gateway, probe: HTTPHealthProbe?, failures: TransportFailures?, interval: Duration, logger: Logger) {
        precondition(interval > .zero, "the monitor's interval must be positive")
        self.gateway = gateway
        self.probe = probe
        self.failures = failures
        self.interval = interval
        var logger = logger
        logger[metadataKey: "baton.service"] = "agent-monitor"
        self.logger = logger
    }

    /// Probes, counts and reconciles until graceful shutdown.
    public func run() async {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.reconcileSessions() }
                if let probe = self.probe {
                    group.addTask { await self.probeWhileNeeded(probe) }
                }
                if let failures = self.failures {
                    group.addTask { await self.countFailures(failures) }
                }
            }
        }
    }

    /// Whether the agent's health is worth a probe now.
    static func needsProbe(_ status: GatewayStatus) -> Bool {
        status.state != .stopping && (status.inFlight > 0 || status.agent.health != .ready)
    }

    /// Waits for a status that needs probes, probes every interval until none is needed,
    /// and waits again. Returns when the gateway stops.
    private func probeWhileNeeded(_ probe: HTTPHealthProbe) async {
        for await status in await gateway.statusUpdates(.coalesced) where Self.needsProbe(status) {
            var current = status
            while Self.needsProbe(current) {
                let startedAt = ContinuousClock.now
                let failure = await probe.check(logger: logger)
                // Cut short by the shutdown: says nothing about the agent.
                guard !Task.isCancelled else { return }
                if let failure {
                    // Said where it is seen: the probe that turns the agent away from ready.
                    let level: Logger.Level = current.agent.health == .ready ? .warning : .debug
                    logger.log(level: level, "Agent health probe failed", metadata: ["baton.cause": "\(failure)"])
                }
                await gateway.recordAgentProbe(succeeded: failure == nil, startedAt: startedAt)
                do {
                    try await Task.sleep(until: startedAt + interval)
                } catch {
                    return
                }
                current = await gateway.status()
            }
        }
    }

    private func countFailures(_ failures: TransportFailures) async {
        for await instant in failures.reports {
            await gateway.recordAgentUnreachable(startedAt: instant)
        }
    }

    private func reconcileSessions() async {
        var suspects: Set<String> = []
        while true {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            suspects = await gateway.reconcile(suspects: suspects)
        }
    }
}
