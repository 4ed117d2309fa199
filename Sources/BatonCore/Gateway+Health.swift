extension Gateway {
    /// Records a health probe of the agent back-end that began at `startedAt`.
    ///
    /// A failed probe that finds the agent `offline` fails the in-flight turns that began
    /// before it, at once, with `agent_unreachable`: each message is marked failed and its
    /// session moves on.
    @discardableResult
    public func recordAgentProbe(succeeded: Bool, startedAt: ContinuousClock.Instant) -> AgentHealth {
        let after = recordAgentHealth(succeeded: succeeded, startedAt: startedAt)
        if after == .offline, !succeeded {
            for (id, turn) in turns where turn.startedAt < startedAt { interrupt(message: id, cause: .agentUnreachable) }
        }
        return after
    }

    /// Records a turn that began at `startedAt` and could not reach the agent.
    ///
    /// It counts towards `offline` as a failed probe does, but fails no other turn: a
    /// connection the agent (or a proxy) dropped says nothing certain of the turns still
    /// streaming, and only a probe that fails too (the monitor probes an agent that is not
    /// `ready`) does. Without `agent.health_url`, the other turns run until
    /// `agent.turn_timeout`.
    public func recordAgentUnreachable(startedAt: ContinuousClock.Instant) {
        recordAgentHealth(succeeded: false, startedAt: startedAt)
    }

    @discardableResult
    private func recordAgentHealth(succeeded: Bool, startedAt: ContinuousClock.Instant) -> AgentHealth {
        let before = agentHealth.health
        let after = agentHealth.record(succeeded: succeeded, startedAt: startedAt)
        guard after != before else { return after }
        logger.log(
            level: after == .ready ? .info : .warning, "Agent health changed",
            metadata: ["baton.health": "\(after.rawValue)", "baton.failures": "\(agentHealth.consecutiveFailures)"])
        publishStatus()
        return after
    }
}
