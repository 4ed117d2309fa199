extension Gateway {
    /// Returns sessions that are marked busy without a live turn to idle.
    ///
    /// The scheduler counts a session as busy from the moment its turn is granted until
    /// ``finishTurn(_:outcome:)`` runs. A turn whose task was lost (it never started, or
    /// died without finishing) would keep its session busy for good, and every message
    /// behind it waiting. Such a turn is ended here only when it was already found
    /// orphaned by the previous call: pass back what that call returned. The second look
    /// keeps a turn that is granted but not yet registered (recovered turns wait for
    /// ``run()``) from being mistaken for a lost one.
    ///
    /// A lost turn's message is marked failed and its session told so with an `error`
    /// notice: it may have run in part, so it is not run again on its own.
    ///
    /// - Parameter suspects: message ids the previous call returned.
    /// - Returns: message ids whose turns look lost now, to pass to the next call.
    public func reconcile(suspects: Set<String>) -> Set<String> {
        let orphaned = scheduler.runningTurns.filter { turns[$0.message] == nil }
        guard !orphaned.isEmpty else { return [] }
        var stillSuspected: Set<String> = []
        var ended = 0
        for turn in orphaned {
            guard suspects.contains(turn.message) else {
                stillSuspected.insert(turn.message)
                continue
            }
            logger.warning(
                "Session was busy without a live turn; returning it to idle",
                metadata: [
                    "baton.session": "\(turn.session)", "baton.message": "\(turn.message)",
                    "baton.reason": "no task is running the turn the scheduler granted (it was lost or never started)",
                ])
            if let message = messages.removeValue(forKey: turn.message) {
                // Fenced as the turn's own writes are: a peer that took the session meanwhile
                // answers the message, and this must not overwrite that.
                writer.enqueue(
                    turnGroup(
                        message.session,
                        [
                            .setState(id: message.id, state: .failed),
                            notice(
                                message.session, .error,
                                "This message's turn was lost before it finished and will not be answered; send it again.",
                                message: message.id),
                        ]))
            }
            ended += 1
            metrics.turnLost()
            startTurns(scheduler.turnEnded(session: turn.session))
        }
        if ended > 0 {
            perform(drain.inFlightChanged(to: scheduler.runningCount))
            publishStatus()
        }
        return stillSuspected
    }
}
