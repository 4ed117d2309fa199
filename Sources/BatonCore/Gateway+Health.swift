extension Gateway {
    /// Records a health probe of the agent back-end that began at `startedAt`.
    ///
    /// When the agent goes `offline`, every in-flight turn fails at once with
    /// `agent_unreachable`: its message is marked failed and its session moves on. While it
    /// stays offline, each failed probe does the same to the turns that began before it.
    @discardableResult
    public func recordAgentProbe(succeeded: Bool, startedAt: ContinuousClock.Instant) -> AgentHealth {
        let before = agentHealth.health
        let after = agentHealth.record(succeeded: succeeded, startedAt: startedAt)
        if before == .offline, after == .offline, !succeeded {
            for (id, turn) in turns where turn.startedAt < startedAt { interrupt(message: id, cause: .agentUnreachable) }
        }
        guard after != before else { return after }
        logger.log(
            level: after == .ready ? .info : .warning, "Agent health changed",
            metadata: ["baton.health": "\(after.rawValue)", "baton.failures": "\(agentHealth.consecutiveFailures)"])
        if after == .offline {
            for id in turns.keys { interrupt(message: id, cause: .agentUnreachable) }
        }
        publishStatus()
        return after
    }
}
