import Foundation

extension Gateway {
    /// Where a drain request came from; decides what a repeat means.
    public enum DrainOrigin: Sendable {
        /// SIGTERM or SIGINT: the second one interrupts at once.
        case terminationSignal
        /// SIGUSR1.
        case reloadSignal
        /// `baton restart|stop` over the control socket.
        case control
        /// `/restart` from a chat admin.
        case chat(user: String)
    }

    /// Starts (or escalates) a drain. Returns the turns in flight when it was asked.
    ///
    /// A restart asked while serving is refused, and nothing drains, when the next process
    /// would not start (``nextStartProblem``): its configuration invalid, it would exit 78
    /// and leave nothing serving. A stop is never refused. (While the check runs, other
    /// requests go on; a stop asked meanwhile wins as ever.)
    @discardableResult
    public func requestDrain(_ reason: DrainReason, immediate: Bool, origin: DrainOrigin) async throws(GatewayError) -> Int {
        // (A stop that began while the check ran wins: nothing to refuse then.)
        if reason == .restart, drain.isServing, let check = nextStartProblem, let problem = await check(), drain.isServing {
            logger.error(
                "Restart refused: the next process would not start; this one keeps serving",
                metadata: ["baton.origin": "\(origin)", "baton.problem": "\(problem)"])
            metrics.restartRefused()
            throw .restartRefused(
                "Restart refused: the next process would not start (\(problem)). This process keeps serving; fix the configuration and ask again.")
        }
        var immediate = immediate
        if case .terminationSignal = origin {
            terminationSignals += 1
            immediate = immediate || terminationSignals > 1
        }
        let inFlight = scheduler.runningCount
        logger.info(
            "Drain requested",
            metadata: ["baton.reason": "\(reason.rawValue)", "baton.immediate": "\(immediate)", "baton.origin": "\(origin)", "baton.in_flight": "\(inFlight)"])
        perform(
            drain.request(reason, immediate: immediate, inFlight: inFlight, now: .now, timeout: .seconds(configuration.drain.timeout)))
        return inFlight
    }

    func drainDeadlinePassed() {
        let action = drain.deadlinePassed()
        if action != .none {
            logger.warning("Drain deadline passed; interrupting turns", metadata: ["baton.in_flight": "\(scheduler.runningCount)"])
        }
        perform(action)
    }

    func perform(_ action: DrainStateMachine.Action) {
        metrics.drainAction(action)
        switch action {
        case .none:
            return
        case .beginDrain(_, let deadline):
            beginDrain(deadline: deadline)
        case .beginDrainAndInterrupt(_, let deadline):
            beginDrain(deadline: deadline)
            interruptAll()
        case .changeReason(let reason):
            logger.info("Drain now for \(reason.rawValue)")
            // The drain may have finished already: the process exits for the new reason.
            if exitReason != nil { exitReason = reason }
        case .interruptAll:
            interruptAll()
        case .finish(let reason):
            finishDrain(reason: reason)
        }
        publishStatus()
    }

    private func beginDrain(deadline: ContinuousClock.Instant) {
        markDrainBegun()
        scheduler.startDraining()
        lifecycle = .draining
        drainDeadline = Date().addingTimeInterval(configuration.drain.timeout)
        jobQueue.yield(.deadline(deadline))
        // Peers answer what this process is not running, now rather than after the restart.
        if leases.isShared { jobQueue.yield(.releaseIdle) }
    }

    private func interruptAll() {
        for id in turns.keys { interrupt(message: id, cause: .drain) }
    }

    private func finishDrain(reason: DrainReason) {
        markDrainBegun()
        scheduler.startDraining()
        if drainDeadline == nil { drainDeadline = Date() }
        lifecycle = .stopping
        exitReason = reason
        logger.info("Drain finished", metadata: ["baton.reason": "\(reason.rawValue)", "baton.queued": "\(scheduler.waitingCount)"])
        jobQueue.yield(.finish(reason))
    }
}
