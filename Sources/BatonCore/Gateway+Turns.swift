import Foundation

extension Gateway {
    /// How a turn ended.
    enum TurnOutcome: Sendable {
        case completed
        case interrupted(InterruptCause)
        case failed(AgentError)
    }

    /// Marks the turns running and hands them to ``run()``.
    func startTurns(_ starts: [TurnScheduler.Start]) {
        guard !starts.isEmpty else { return }
        metrics.turnsStarted(starts.count)
        var writes: [StoreWrite] = []
        for start in starts {
            let (interrupts, interrupt) = AsyncStream.makeStream(of: InterruptCause.self, bufferingPolicy: .bufferingNewest(1))
            turns[start.message] = RunningTurn(session: start.session, interrupt: interrupt, interrupts: interrupts)
            messages[start.message]?.state = .running
            if leases.isShared {
                writer.enqueue(turnGroup(start.session, [.setState(id: start.message, state: .running)]))
            } else {
                writes.append(.setState(id: start.message, state: .running))
            }
            jobQueue.yield(.turn(start))
        }
        if !writes.isEmpty { writer.enqueue(writes) }
        publishStatus()
    }

    /// Runs one turn to its end and lets the session move on.
    func runTurn(_ start: TurnScheduler.Start) async {
        guard let message = messages[start.message], let turn = turns[start.message] else { return }
        let request = TurnRequest(
            id: message.id, session: message.session, user: message.user, text: message.text, instance: instance,
            rerun: reruns.remove(message.id) != nil, repliesDelivered: message.replies)
        var turnLogger = logger
        turnLogger[metadataKey: "baton.session"] = "\(message.session)"
        turnLogger[metadataKey: "baton.message"] = "\(message.id)"
        turnLogger.debug("Turn started")
        let outcome = await Self.execute(
            agent: agent,
            request: request,
            interrupts: turn.interrupts,
            timeout: .seconds(configuration.agent.turnTimeout),
            reply: { [weak self] text in await self?.emitReply(to: message, text: text) }
        )
        finishTurn(message, outcome: outcome)
        turnLogger.debug("Turn ended", metadata: ["baton.outcome": "\(outcome)"])
    }

    /// Races the agent against an interrupt and the turn timeout; cancels the losers.
    nonisolated static func execute(
        agent: any Agent,
        request: TurnRequest,
        interrupts: AsyncStream<InterruptCause>,
        timeout: Duration,
        reply: @escaping @Sendable (String) async -> Void
    ) async -> TurnOutcome {
        await withTaskGroup(of: TurnOutcome?.self) { group in
            group.addTask {
                do {
                    try await agent.runTurn(request) { text in await reply(text) }
                    return .completed
                } catch let error as AgentError {
                    return .failed(error)
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failed(AgentError(.agentFailed, "The agent failed: \(error)"))
                }
            }
            group.addTask {
                for await cause in interrupts { return .interrupted(cause) }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                if Task.isCancelled { return nil }
                return .failed(AgentError(.turnTimeout, "The turn took longer than agent.turn_timeout (\(timeout.components.seconds) s) and was stopped."))
            }
            var outcome: TurnOutcome?
            while outcome == nil, let next = await group.next() {
                outcome = next
            }
            group.cancelAll()
            // The whole group was cancelled (the gateway is being torn down): the next
            // process runs the turn again.
            return outcome ?? .interrupted(.drain)
        }
    }

    /// Stores the agent's next reply, unless an earlier run of the turn already stored the
    /// reply of that ordinal (it was cut short after it): then the reply is dropped, and the
    /// session sees each reply once however often the turn runs.
    func emitReply(to message: Message, text: String) {
        guard turns[message.id] != nil else { return }
        turns[message.id]?.replies += 1
        let ordinal = turns[message.id]?.replies ?? 1
        guard ordinal > message.replies else { return }
        let reply = ReplyPayload(id: "\(message.id).\(ordinal)", inReplyTo: message.id, text: text)
        writer.enqueue(turnGroup(message.session, [.appendReply(nextEvent(message.session, .reply, reply), message: message.id, ordinal: ordinal)]))
    }

    /// A turn's writes as one group: with a shared store, fenced by the session's lease, so
    /// a process cut off longer than its lease cannot store what the peer now running the
    /// turn stores too.
    func turnGroup(_ session: String, _ writes: [StoreWrite]) -> [StoreWrite] {
        leases.isShared ? [.fence(session: session)] + writes : writes
    }

    func finishTurn(_ message: Message, outcome: TurnOutcome) {
        metrics.turnEnded(outcome)
        var writes: [StoreWrite] = []
        switch outcome {
        case .completed:
            writes.append(.setState(id: message.id, state: .done))
            agentHealth.record(succeeded: true, startedAt: turns[message.id]?.startedAt ?? .now)
        case .interrupted(.drain):
            writes.append(.setState(id: message.id, state: .interrupted))
            writes.append(notice(message.session, .interrupted, "Baton is restarting; this message will be answered again by the next process.", message: message.id))
        case .interrupted(.superseded):
            writes.append(.setState(id: message.id, state: .cancelled))
            writes.append(notice(message.session, .interrupted, "Interrupted by a newer message.", message: message.id))
        case .interrupted(.agentUnreachable):
            let error = AgentError(
                .agentUnreachable,
                "The agent is unreachable: \(agentHealth.consecutiveFailures) health probes failed in a row. This message was not answered; send it again once the agent is back.")
            writes.append(.setState(id: message.id, state: .failed))
            writes.append(notice(message.session, .error, error.description, message: message.id))
            logger.warning("Turn failed", metadata: ["baton.session": "\(message.session)", "baton.message": "\(message.id)", "baton.error": "\(error.code.rawValue)"])
        case .failed(let error):
            writes.append(.setState(id: message.id, state: .failed))
            writes.append(notice(message.session, .error, error.description, message: message.id))
            logger.warning("Turn failed", metadata: ["baton.session": "\(message.session)", "baton.message": "\(message.id)", "baton.error": "\(error.code.rawValue)"])
        }
        writer.enqueue(turnGroup(message.session, writes))
        turns[message.id]?.interrupt.finish()
        turns[message.id] = nil
        messages[message.id] = nil
        let starts = scheduler.turnEnded(session: message.session)
        startTurns(starts)
        // Draining: the session's queue is a peer's to answer now.
        if leases.isShared, !drain.isServing { jobQueue.yield(.releaseIdle) }
        perform(drain.inFlightChanged(to: scheduler.runningCount))
        publishStatus()
    }

    /// Tells a running turn to stop; it ends through ``finishTurn(_:outcome:)``.
    func interrupt(message: String, cause: InterruptCause) {
        turns[message]?.interrupt.yield(cause)
    }
}
