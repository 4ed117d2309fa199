import Foundation

extension Gateway {
    /// How a turn ended.
    enum TurnOutcome: Sendable {
        case completed
        case interrupted(InterruptCause)
        case failed(AgentError)
    }

    /// Marks the turns running and starts a task for each.
    ///
    /// A turn's task runs on this actor from its first line, as the agent starts on the
    /// caller's executor (``Agent/runTurn(_:reply:)``): a turn the agent answers at once
    /// (the demo agent) is one job of this actor, with no hop to another thread.
    func startTurns(_ starts: [TurnScheduler.Start]) {
        guard !starts.isEmpty else { return }
        metrics.turnsStarted(starts.count)
        var writes: [StoreWrite] = []
        let startedAt = ContinuousClock.now
        for start in starts {
            // Runs once this job of the actor is over, so its record is in place by then.
            let task = Task { await self.runTurn(start) }
            turns[start.message] = RunningTurn(session: start.session, startedAt: startedAt, task: task)
            messages[start.message]?.state = .running
            if leases.isShared {
                writer.enqueue(turnGroup(start.session, [.setState(id: start.message, state: .running)]))
            } else {
                writes.append(.setState(id: start.message, state: .running))
            }
        }
        if !writes.isEmpty { writer.enqueue(writes) }
        if turnTimer == nil {
            armTurnTimer(at: startedAt + turnTimeout)
        }
        publishStatus()
    }

    /// Runs one turn to its end and lets the session move on.
    ///
    /// One task per turn: an interrupt or the turn timeout cancels it (``interrupt(message:cause:)``),
    /// and one timer serves every turn's timeout (``turnTimeoutsPassed()``). Only the
    /// request and the message's id live across the agent's run: a suspended turn's frames
    /// are most of what an in-flight turn costs in memory (bench/README.md, "Memory").
    func runTurn(_ start: TurnScheduler.Start) async {
        guard let request = beginTurn(start) else { return }
        let id = request.id
        let result = await Self.execute(
            agent: agent, request: request,
            reply: { [weak self] text in await self?.emitReply(to: id, text: text) })
        endTurn(id, result: result)
    }

    /// The turn's request; nil when the turn is gone, or was stopped before it began (it
    /// has ended then).
    private func beginTurn(_ start: TurnScheduler.Start) -> TurnRequest? {
        guard let message = messages[start.message], let turn = turns[start.message] else { return nil }
        // Metadata built only when debug logging is on: a turn holds nothing for it.
        logger.debug("Turn started", metadata: ["baton.session": "\(message.session)", "baton.message": "\(message.id)"])
        if let stop = turn.stop {
            endTurn(message.id, result: stop)
            return nil
        }
        return TurnRequest(
            id: message.id, session: message.session, user: message.user, text: message.text, instance: instance,
            rerun: !reruns.isEmpty && reruns.remove(message.id) != nil, repliesDelivered: message.replies)
    }

    /// Ends the turn with what the agent did, or, when its task was cancelled, with why.
    private func endTurn(_ id: String, result: TurnOutcome?) {
        guard let message = messages[id] else { return }
        let turn = turns[id]
        var outcome = result ?? turn?.stop ?? .interrupted(.drain)
        if case .completed = outcome, turn?.repliedAfterStop == true, let stop = turn?.stop {
            // The agent finished just as it was stopped, and its last reply came too late
            // to be stored: answered as the stop says, or the reply would be lost.
            outcome = stop
        }
        finishTurn(message, outcome: outcome)
        logger.debug(
            "Turn ended", metadata: ["baton.session": "\(message.session)", "baton.message": "\(message.id)", "baton.outcome": "\(outcome)"])
    }

    /// Runs the agent; nil when it stopped because its task was cancelled (an interrupt,
    /// the timeout, or the gateway torn down: the caller knows which). It runs on the
    /// caller's executor, as the agent starts on it (``Agent/runTurn(_:reply:)``).
    nonisolated(nonsending) static func execute(
        agent: any Agent,
        request: TurnRequest,
        reply: nonisolated(nonsending) @escaping @Sendable (String) async -> Void
    ) async -> TurnOutcome? {
        do {
            try await agent.runTurn(request) { text in await reply(text) }
            return .completed
        } catch let error as AgentError where !Task.isCancelled {
            return .failed(error)
        } catch where Task.isCancelled {
            return nil
        } catch {
            return .failed(AgentError(.agentFailed, "The agent failed: \(error)"))
        }
    }

    /// Stores the agent's next reply, unless an earlier run of the turn already stored the
    /// reply of that ordinal (it was cut short after it): then the reply is dropped, and the
    /// session sees each reply once however often the turn runs.
    func emitReply(to id: String, text: String) {
        guard let turn = turns.index(forKey: id), let message = messages[id] else { return }
        guard turns.values[turn].stop == nil else {
            // A turn being stopped says nothing more: its end (a notice, or the next run) does.
            turns.values[turn].repliedAfterStop = true
            return
        }
        turns.values[turn].replies += 1
        let ordinal = turns.values[turn].replies
        guard ordinal > message.replies else { return }
        let reply = ReplyPayload(id: "\(message.id).\(ordinal)", inReplyTo: message.id, text: text.replacingNUL)
        let event = SessionEvent(session: message.session, id: 0, kind: .reply, data: reply.json)
        writer.enqueue(turnGroup(message.session, [.appendReply(event, message: message.id, ordinal: ordinal)]))
    }

    /// A turn's writes as one group: with a shared store, fenced by the session's lease as
    /// held now, so a process cut off longer than its lease cannot store what the peer now
    /// running the turn stores too, even once it has taken the session back (a newer
    /// generation) before this group commits.
    func turnGroup(_ session: String, _ writes: [StoreWrite]) -> [StoreWrite] {
        // Not held any more (the lease was lost; the turn is ending): generation 0, which
        // no lease has, so the group is refused even if this process takes it back first.
        leases.isShared ? [.fence(session: session, generation: held[session] ?? 0)] + writes : writes
    }

    func finishTurn(_ message: Message, outcome: TurnOutcome) {
        metrics.turnEnded(outcome)
        let turn = turns.removeValue(forKey: message.id)
        var writes: [StoreWrite] = []
        switch outcome {
        case .completed:
            writes.append(.setState(id: message.id, state: .done))
            agentHealth.record(succeeded: true, startedAt: turn?.startedAt ?? .now)
        case .interrupted(.drain):
            writes.append(.setState(id: message.id, state: .interrupted))
            let text =
                drain.reason == .stop
                ? "Baton is stopping; this message will be answered again when it is back."
                : "Baton is restarting; this message will be answered again by the next process."
            writes.append(notice(message.session, .interrupted, text, message: message.id))
        case .interrupted(.leaseLost):
            // Stays pending, with no notice: the process that takes the session answers it.
            // Fenced by the lease, so dropped once a peer holds the session.
            writes.append(.setState(id: message.id, state: .interrupted))
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
        messages[message.id] = nil
        let starts = scheduler.turnEnded(session: message.session)
        startTurns(starts)
        // Draining: the session's queue is a peer's to answer now.
        if leases.isShared, !drain.isServing { jobQueue.yield(.releaseIdle) }
        perform(drain.inFlightChanged(to: scheduler.runningCount))
        publishStatus()
    }

    /// Tells a running turn to stop; it ends through ``finishTurn(_:outcome:)``. The first
    /// reason given wins.
    func interrupt(message: String, cause: InterruptCause) {
        stop(message, .interrupted(cause))
    }

    private func stop(_ message: String, _ outcome: TurnOutcome) {
        guard turns[message] != nil, turns[message]?.stop == nil else { return }
        turns[message]?.stop = outcome
        turns[message]?.task?.cancel()
    }

    // MARK: Turn timeout

    private var turnTimeout: Duration { .seconds(configuration.agent.turnTimeout) }

    private func armTurnTimer(at deadline: ContinuousClock.Instant) {
        turnTimer = deadline
        jobQueue.yield(.turnTimeouts(deadline))
    }

    /// The turn timer fired: stops every turn past `agent.turn_timeout` and sets the timer
    /// for the oldest turn left. A scan of the turns in flight about once per timeout.
    func turnTimeoutsPassed() {
        turnTimer = nil
        let now = ContinuousClock.now
        let timeout = turnTimeout
        var next: ContinuousClock.Instant?
        for (id, turn) in turns where turn.stop == nil {
            let deadline = turn.startedAt + timeout
            if deadline <= now {
                stop(id, .failed(AgentError(.turnTimeout, "The turn took longer than agent.turn_timeout (\(timeout.components.seconds) s) and was stopped.")))
            } else if next.map({ deadline < $0 }) ?? true {
                next = deadline
            }
        }
        if let next { armTurnTimer(at: next) }
    }
}
