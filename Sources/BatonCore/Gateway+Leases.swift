import Foundation

extension Gateway {
    /// Takes a session with work waiting (a message stored by any process, a lease let go
    /// or run out) if this process may run it, and loads its messages not yet loaded.
    ///
    /// Only with a shared store; a draining process takes nothing.
    public func takeSession(_ session: String) async {
        guard leases.isShared, drain.isServing else { return }
        // A turn its lease ran out under is still ending: taken again only after, at a
        // beat, so that its message is read back as pending and runs first again.
        guard !turns.values.contains(where: { $0.session == session && $0.stopsForLostLease }) else { return }
        if held[session] == nil {
            let grant: LeaseGrant?
            do {
                grant = try await leases.acquire(session)
            } catch {
                logger.warning("Lease could not be taken", metadata: ["baton.session": "\(session)", "baton.error": "\(error)"])
                return
            }
            guard let grant else {
                logger.debug("Session run by a peer", metadata: ["baton.session": "\(session)"])
                return
            }
            logger.debug("Lease taken", metadata: ["baton.session": "\(session)", "baton.generation": "\(grant.generation)"])
            if let generation = held[session] {
                // Two takes raced (a POST and a beat): the newest generation is the row's,
                // and the one a release must name.
                held[session] = max(generation, grant.generation)
            } else {
                held[session] = grant.generation
                loadedThrough[session] = 0
                metrics.leaseAcquired(takenOver: grant.takenFrom != nil)
                if let previous = grant.takenFrom {
                    logger.info("Session taken over", metadata: ["baton.session": "\(session)", "baton.from": "\(previous)"])
                }
            }
            guard drain.isServing else {
                // A drain began meanwhile: a peer runs it.
                await releaseSession(session)
                return
            }
            await loadPending(session, takenFrom: grant.takenFrom)
        } else {
            await loadPending(session, takenFrom: nil)
        }
    }

    /// Queues the session's pending messages this process has not loaded yet, in order.
    private func loadPending(_ session: String, takenFrom: String?) async {
        let pending: [Message]
        do {
            pending = try await store.pendingMessages(session: session)
        } catch {
            logger.warning("Pending messages could not be read", metadata: ["baton.session": "\(session)", "baton.error": "\(error)"])
            return
        }
        // Re-checked after the read: the lease may be gone, and another load may have run.
        guard held[session] != nil else { return }
        var starts: [TurnScheduler.Start] = []
        var rerun = 0
        var newest: String?
        for message in pending where message.sequence > (loadedThrough[session] ?? 0) {
            loadedThrough[session] = message.sequence
            guard messages[message.id] == nil else { continue }
            messages[message.id] = message
            if message.state != .queued {
                reruns.insert(message.id)
                rerun += 1
            }
            starts += scheduler.enqueue(message.id, session: session, durable: true)
            newest = message.id
        }
        // New input for a turn running here, from this process or a peer: `busy_input:
        // interrupt` ends it. Not on a takeover, whose messages all waited for a turn.
        if configuration.busyInput == .interrupt, takenFrom == nil, let newest, let running = scheduler.runningMessage(of: session),
            running != newest
        {
            interrupt(message: running, cause: .superseded)
        }
        if let takenFrom, !pending.isEmpty {
            recoveredTurns += rerun
            metrics.recovered(messages: pending.count, interruptedTurns: rerun)
            let noun = pending.count == 1 ? "message" : "messages"
            writer.enqueue([
                notice(
                    session, .restarted, "Baton process \(takenFrom) went away; \(pending.count) pending \(noun) will be answered now by \(instance).",
                    position: pending.count)
            ])
        }
        startTurns(starts)
        publishStatus()
    }

    /// Lets go of a session: its committed state first, so the peer that takes it next
    /// reads where this process left it. While what this process wrote cannot be committed
    /// (the store is unreachable), the lease is kept: a peer taking the session then would
    /// run a finished turn again. It is let go at a later beat, or runs out once the
    /// process is gone.
    func releaseSession(_ session: String) async {
        guard let generation = held.removeValue(forKey: session) else { return }
        loadedThrough[session] = nil
        releasing.insert(session)
        defer { releasing.remove(session) }
        do {
            try await writer.write([])
        } catch {
            // Unless a message meanwhile took the session again (its own generation).
            if held[session] == nil { held[session] = generation }
            logger.warning(
                "Lease kept: what this process wrote could not be committed first", metadata: ["baton.session": "\(session)", "baton.error": "\(error)"])
            return
        }
        do {
            try await leases.release(session, generation: generation)
            logger.debug("Lease let go", metadata: ["baton.session": "\(session)", "baton.generation": "\(generation)"])
        } catch {
            logger.warning(
                "Lease could not be let go; it runs out by itself", metadata: ["baton.session": "\(session)", "baton.error": "\(error)"])
        }
        metrics.observe(leasesHeld: held.count)
    }

    /// Lets go of every held session without a running turn (a drain began, or they went idle).
    func releaseIdleSessions() async {
        for session in held.keys.sorted() where !scheduler.isBusy(session) {
            if drain.isServing, scheduler.waitingCount(of: session) > 0 { continue }
            await releaseSession(session)
        }
    }

    /// Lets go of everything: the drain is over.
    func releaseAllSessions() async {
        for session in held.keys.sorted() { await releaseSession(session) }
    }

    /// One beat of the lease keeper: renews what this process holds (``renewLeases()``),
    /// then lets idle sessions go, takes sessions nobody runs (a dead process's, once
    /// their leases ran out), and refreshes the cluster's picture for `/v1/status`.
    public func leaseBeat() async {
        guard await renewLeases() else { return }
        await tendSessions()
    }

    /// Renews every lease this process holds; stops running the sessions a peer took
    /// meanwhile, and notes the ones the store says are this process's but it does not
    /// run, for ``tendSessions()`` to take. Returns whether the store answered.
    ///
    /// The lease keeper runs it on a beat of its own, so that a slow take or release
    /// (a row locked elsewhere, the database slow) never delays a renewal.
    @discardableResult
    public func renewLeases() async -> Bool {
        guard leases.isShared, lifecycle != .stopping else { return false }
        // What this renewal is for: a session taken while it runs is not in its answer.
        let renewing = held
        let stillHeld: Set<String>
        do {
            // Draining, only what it runs: a lease this process holds for a session it does
            // not run (a take whose answer came too late) would otherwise be kept through
            // the whole drain, and that session's messages wait for it.
            stillHeld = try await leases.renew(state: lifecycle.rawValue, only: drain.isServing ? nil : Set(renewing.keys))
            storeReachable(true)
        } catch {
            logger.warning("Leases could not be renewed", metadata: ["baton.error": "\(error)"])
            storeReachable(false)
            return false
        }
        for (session, generation) in renewing.sorted(by: { $0.key < $1.key })
        where !stillHeld.contains(session) && held[session] == generation {
            // A peer took it before this renewal (it had run out): the peer runs the session now.
            logger.error(
                "Lease lost: a peer took it before it was renewed", metadata: ["baton.session": "\(session)", "baton.running": "\(scheduler.isBusy(session))"])
            metrics.leaseExpired()
            held[session] = nil
            loadedThrough[session] = nil
            stopRunning(session)
        }
        // A lease the store says is this process's, for a session it does not run: a take
        // that lost a race with an earlier renewal. Taken again (at the next tending, so
        // that a take that waits never holds up the renewals), and its messages run here.
        untakenLeases.formUnion(stillHeld.filter { held[$0] == nil && !releasing.contains($0) })
        metrics.observe(leasesHeld: held.count)
        return true
    }

    /// Takes the sessions the last renewal found this process holds but does not run,
    /// lets idle sessions go, takes sessions nobody runs, and refreshes the cluster's
    /// picture for `/v1/status`.
    public func tendSessions() async {
        guard leases.isShared, lifecycle != .stopping else { return }
        let untaken = untakenLeases
        untakenLeases = []
        for session in untaken.sorted() where held[session] == nil { await takeSession(session) }
        await releaseIdleSessions()
        // Only with a turn slot free: a session taken by a process at its limit would wait
        // there while an idle peer could run it now.
        let room = configuration.agent.maxConcurrentTurns - scheduler.runningCount
        if drain.isServing, room > 0 {
            if let free = try? await leases.unclaimed(limit: room) {
                for session in free { await takeSession(session) }
            }
        }
        if let cluster = try? await leases.cluster() { self.cluster = cluster }
        metrics.observe(leasesHeld: held.count)
        publishStatus()
    }

    /// Stops running a session whose lease ran out, as a peer may run it now: its turn is
    /// interrupted, and its waiting messages are left to the store for whoever takes it.
    private func stopRunning(_ session: String) {
        let (dropped, starts) = scheduler.dropWaiting(in: session)
        for id in dropped {
            messages[id] = nil
            reruns.remove(id)
        }
        if let running = scheduler.runningMessage(of: session) { interrupt(message: running, cause: .leaseLost) }
        startTurns(starts)
    }

    /// Records whether the store answered; readiness follows it.
    public func storeReachable(_ reachable: Bool) {
        guard storeIsReachable != reachable else { return }
        storeIsReachable = reachable
        logger.log(level: reachable ? .info : .error, reachable ? "Store reachable again" : "Store unreachable")
        publishStatus()
    }
}
