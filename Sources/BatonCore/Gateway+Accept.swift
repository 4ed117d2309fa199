import Foundation

/// A chat message as a client posted it, already checked for shape.
public struct IncomingMessage: Sendable, Equatable {
    /// The client's idempotency key, if it sent one.
    public var id: String?
    public var session: String
    public var user: String
    public var text: String

    public init(id: String?, session: String, user: String, text: String) {
        self.id = id
        self.session = session
        self.user = user
        self.text = text
    }
}

/// What the gateway did with an incoming message.
public enum AcceptResult: Sendable, Equatable {
    /// Stored; 202 with this body.
    case acknowledged(Acknowledgement)
    /// `/restart`: a drain started (or was already under way).
    case restarting(inFlight: Int)
    /// `/status`: answered as a notice on the session's stream.
    case answered(session: String)
    /// Refused under `busy_input: reject`; nothing stored.
    case rejected(RejectReason)

    public enum RejectReason: String, Sendable {
        case draining, busy
    }
}

extension Gateway {
    /// Takes a message: runs a chat command, or stores the message (on disk before this
    /// returns) and schedules its turn.
    public func accept(_ incoming: IncomingMessage) async throws(GatewayError) -> AcceptResult {
        switch ChatCommand(text: incoming.text) {
        case .restart(let now):
            return try await restartCommand(from: incoming, immediate: now)
        case .status:
            return try await statusCommand(from: incoming)
        case nil:
            return try await store(incoming)
        }
    }

    /// Appends a notice to a session's stream, on disk before this returns: how a chat
    /// network tells a room about input the gateway refused (nothing else records it).
    ///
    /// A notice that answers a `message` (a refusal, a command's answer) is written once
    /// for it, however often the message comes: a chat network reads a batch of messages
    /// again after a failure or a crash, and each is then known by ``wasAnswered(_:)``.
    /// `alsoWriting` commits with the notice (a chat network's mark that it was given).
    public func notify(
        session: String, kind: NoticeKind, text: String, message: String? = nil, alsoWriting: [StoreWrite] = []
    ) async throws(GatewayError) {
        if let message {
            // The same message twice at once (two requests, a room read again while its
            // first notice is written): one notice.
            guard answering.insert(message).inserted else { return }
        }
        defer {
            if let message { answering.remove(message) }
        }
        if let message, try await wasAnswered(message) { return }
        do {
            try await writer.write([notice(session, kind, text, message: message)] + answeredMark(message) + alsoWriting)
        } catch {
            throw .storeUnavailable("The notice could not be stored: \(error)")
        }
    }

    /// Whether the message with this id was answered by a notice rather than stored: a
    /// command, or input refused. A chat network that reads it again leaves it be.
    public func wasAnswered(_ message: String) async throws(GatewayError) -> Bool {
        do {
            return try await store.hasMark(network: Self.answeredMessages, mark: message)
        } catch {
            throw .storeUnavailable("The store could not be read: \(error)")
        }
    }

    /// The marks of messages answered by a notice, one per message id, kept with the notice.
    static let answeredMessages = "answered"

    private func answeredMark(_ message: String?) -> [StoreWrite] {
        message.map { [.addMark(network: Self.answeredMessages, mark: $0, expires: true)] } ?? []
    }

    private func store(_ incoming: IncomingMessage) async throws(GatewayError) -> AcceptResult {
        if let id = incoming.id {
            // Answered as the earlier message with this id stands once on disk: a 202 for a
            // commit under way could be for a message the store then refuses.
            await waitForCommit(of: id)
            if let earlier = try await knownMessage(id) { return try .acknowledged(Self.answer(incoming, sentAgainAs: earlier)) }
            // Re-checked after the read: the same id may have been accepted meanwhile.
            await waitForCommit(of: id)
            if let earlier = messages[id] { return try .acknowledged(Self.answer(incoming, sentAgainAs: earlier)) }
        }
        if leases.isShared { return try await storeShared(incoming) }
        let session = incoming.session
        let draining = !drain.isServing
        let view = scheduler.view(of: session)
        let busy = view.hasWork
        if let refused = try refusal(of: session, waiting: view.waiting, draining: draining, busy: busy) { return refused }

        let id = incoming.id ?? MessageID.make()
        let position = view.position
        let status: Acknowledgement.Status = !draining && scheduler.wouldStartImmediately(given: view) ? .accepted : .queued
        var acknowledgement = Acknowledgement(id: id, session: session, status: status, position: position)
        let message = Message(
            id: id, sequence: nextSequence, session: session, user: incoming.user, text: incoming.text,
            state: .queued, acknowledgement: acknowledgement, acceptedAt: Date())
        nextSequence += 1
        messages[id] = message
        // Only a client's id can come again: a made one is new to everyone.
        if incoming.id != nil { commitsUnderWay[id] = [] }

        var writes: [StoreWrite] = [.insertMessage(message)]
        if draining {
            writes.append(drainingNotice(session, message: id, position: position))
        } else if busy {
            writes.append(notice(session, .queued, "Your message is queued behind \(position) ahead of it.", message: id, position: position))
        }
        startTurns(scheduler.enqueue(id, session: session, durable: false))
        do {
            try await writer.write(writes)
        } catch {
            messages[id] = nil
            commitEnded(id)
            startTurns(scheduler.remove(id, session: session))
            publishStatus()
            throw Self.notStored(error, clientID: incoming.id)
        }
        commitEnded(id)
        // Re-checked after the await: a drain may have begun meanwhile; the scheduler
        // then keeps the message for the next process, and the client is told so.
        startTurns(scheduler.markDurable(id, session: session))
        if !draining, !drain.isServing {
            acknowledgement.status = .queued
            messages[id]?.acknowledgement = acknowledgement
            writer.enqueue([drainingNotice(session, message: id, position: position)])
        }
        if configuration.busyInput == .interrupt, drain.isServing, let running = scheduler.runningMessage(of: session), running != id {
            interrupt(message: running, cause: .superseded)
        }
        metrics.messageStored(acknowledgement.status)
        publishStatus()
        return .acknowledged(acknowledgement)
    }

    /// Stores a message in a store other processes share: committed first, then the
    /// session's lease is taken (unless a live peer holds it, which hears of the message
    /// from the commit) and its messages queued in the order the store gave them.
    ///
    /// The acknowledgement's status and position are this process's view: a peer may be
    /// running the session.
    private func storeShared(_ incoming: IncomingMessage) async throws(GatewayError) -> AcceptResult {
        let session = incoming.session
        let draining = !drain.isServing
        let holds = held[session] != nil
        let view = scheduler.view(of: session)
        let busy = holds ? view.hasWork : try await busyElsewhere(session)
        if let refused = try refusal(of: session, waiting: view.waiting, draining: draining, busy: busy) { return refused }
        let id = incoming.id ?? MessageID.make()
        let position = holds ? view.position : 0
        let status: Acknowledgement.Status = !draining && position == 0 ? .accepted : .queued
        let acknowledgement = Acknowledgement(id: id, session: session, status: status, position: position)
        let message = Message(
            id: id, sequence: 0, session: session, user: incoming.user, text: incoming.text,
            state: .queued, acknowledgement: acknowledgement, acceptedAt: Date())
        var writes: [StoreWrite] = [.insertMessage(message)]
        if draining {
            writes.append(notice(session, .draining, "This Baton process is draining; another one answers your message.", message: id, position: position))
        } else if busy {
            writes.append(notice(session, .queued, "Your message is queued behind \(position) ahead of it.", message: id, position: position))
        }
        do {
            try await writer.write(writes)
        } catch {
            // The same id committed meanwhile, by a peer or by an earlier try of this
            // request (its answer lost on the way): answered as that one was.
            if let id = incoming.id, let earlier = try? await store.message(id: id) {
                storeReachable(true)
                return try .acknowledged(Self.answer(incoming, sentAgainAs: earlier))
            }
            storeReachable(false)
            throw Self.notStored(error, clientID: incoming.id)
        }
        storeReachable(true)
        // Queues it here, or a peer that runs the session hears of it from the commit;
        // either way `busy_input: interrupt` is applied where the turn runs.
        await takeSession(session)
        metrics.messageStored(status)
        publishStatus()
        return .acknowledged(acknowledgement)
    }

    /// The notice that a message waits for the drain's end: the next process, or the next start.
    private func drainingNotice(_ session: String, message id: String, position: Int) -> StoreWrite {
        let waitFor = drain.reason == .stop ? "stopping; your message is queued until it starts again" : "restarting; your message is queued for the next process"
        return notice(session, .draining, "Baton is \(waitFor).", message: id, position: position)
    }

    /// Whether a session this process does not run has work a peer runs or will run: only
    /// asked under `busy_input: reject`, which refuses input to a busy session wherever it
    /// runs. Two messages at once on two processes may both find it idle.
    private func busyElsewhere(_ session: String) async throws(GatewayError) -> Bool {
        guard configuration.busyInput == .reject else { return false }
        do {
            return try await !store.pendingMessages(session: session).isEmpty
        } catch {
            storeReachable(false)
            throw .storeUnavailable("The store could not be read: \(error)")
        }
    }

    /// Why a message for `session` (`waiting` messages in its queue) is not taken, if it is
    /// not: `busy_input: reject` while draining or busy (an answer), or a full queue (an error).
    private func refusal(of session: String, waiting: Int, draining: Bool, busy: Bool) throws(GatewayError) -> AcceptResult? {
        if configuration.busyInput == .reject, draining || busy {
            metrics.messageRejected(draining ? .draining : .busy)
            return .rejected(draining ? .draining : .busy)
        }
        guard waiting < configuration.limits.maxQueuePerSession else {
            metrics.messageRejected(.queueFull)
            throw .queueFull("Session \(session) already has \(configuration.limits.maxQueuePerSession) messages waiting (limits.max_queue_per_session).")
        }
        return nil
    }

    /// The answer to a message whose commit failed: nothing was stored, or, when the store
    /// stopped answering with the message in hand, it is not known whether it was.
    private static func notStored(_ error: any Error, clientID: String?) -> GatewayError {
        guard error is any CommitOutcomeUnknown else {
            return .storeUnavailable("The message could not be stored: \(error). Nothing was accepted; try again.")
        }
        let advice =
            clientID == nil
            ? "sent again, it may be stored twice (a message sent with an id is stored once however often it is sent)."
            : "send it again with the same id, and it is stored once."
        return .storeUnavailable("The store did not confirm the message: \(error). It may have been stored all the same; \(advice)")
    }

    /// Returns once no commit of a message with this id is under way.
    private func waitForCommit(of id: String) async {
        while commitsUnderWay[id] != nil {
            await withCheckedContinuation { commitsUnderWay[id, default: []].append($0) }
        }
    }

    /// Wakes the requests waiting for this id's commit, if any: the message is on disk, or gone.
    private func commitEnded(_ id: String) {
        for waiter in commitsUnderWay.removeValue(forKey: id) ?? [] { waiter.resume() }
    }

    /// The earlier message with this id, taken by this process or a previous one.
    private func knownMessage(_ id: String) async throws(GatewayError) -> Message? {
        if let message = messages[id] { return message }
        do {
            return try await store.message(id: id)
        } catch {
            throw .storeUnavailable("The store could not be read: \(error)")
        }
    }

    /// The answer to a message whose id names the stored message `earlier`: the earlier
    /// answer when it is that message sent again (its session and user), else a conflict.
    /// Answered as a repeat, another session's message would never be run, and no one told.
    private static func answer(_ incoming: IncomingMessage, sentAgainAs earlier: Message) throws(GatewayError) -> Acknowledgement {
        guard earlier.session == incoming.session, earlier.user == incoming.user else {
            throw .idConflict(
                "Message id \(earlier.id) already names another message (of another session or user); a message sent again must name "
                    + "the same session and user. Give this message an id of its own.")
        }
        return earlier.acknowledgement
    }

    private func restartCommand(from incoming: IncomingMessage, immediate: Bool) async throws(GatewayError) -> AcceptResult {
        guard configuration.admins.contains(incoming.user) else {
            throw .forbidden("Only admins may /restart; \(incoming.user) is not in admins.")
        }
        let inFlight = scheduler.runningCount
        // Sent again with its id (its answer lost in the restart it asked for): that restart
        // happened, or is under way. Answered as then, and not restarted twice.
        if let id = incoming.id, try await wasAnswered(id) { return .restarting(inFlight: inFlight) }
        try await requestDrain(.restart, immediate: immediate, origin: .chat(user: incoming.user))
        writer.enqueue(
            [notice(incoming.session, .draining, "Restart requested by \(incoming.user): \(inFlight) turns in flight\(immediate ? " are interrupted now" : " finish first").")]
                + answeredMark(incoming.id))
        return .restarting(inFlight: inFlight)
    }

    private func statusCommand(from incoming: IncomingMessage) async throws(GatewayError) -> AcceptResult {
        try await notify(session: incoming.session, kind: .status, text: "\(status().summary) (instance \(instance))", message: incoming.id)
        return .answered(session: incoming.session)
    }
}
