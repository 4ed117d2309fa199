import BatonCore
import Foundation
import Logging

/// The inbound half of the Matrix adapter: a `/sync` loop that hands every person's text
/// message to the gateway and stores the sync position only after all it covers is on disk.
///
/// A process that dies anywhere syncs again from the stored position; the gateway knows
/// each message by its Matrix event id, so a repeat starts no second turn. On its very
/// first start (nothing stored) it begins from now, not from the rooms' history.
struct MatrixSync: Sendable {
    let client: MatrixClient
    let gateway: Gateway
    let store: any Store
    let writer: StoreWriter
    let configuration: MatrixConfiguration
    let typing: MatrixTyping
    /// Where each message read was written, for its answers.
    let threads: MatrixThreads
    /// This store's claim on the account, against a second Baton answering it too.
    let claim: MatrixAccountClaim
    let metrics: MatrixMetrics
    let logger: Logger
    var paging = MatrixPaging.standard
    /// Joins that failed for a while, tried again after each sync.
    let pendingJoins = MatrixPendingJoins()

    /// How long one `/sync` waits for news.
    static let pollTimeout = Duration.seconds(30)
    /// How long the loop waits after the homeserver refused the token before trying again.
    static let unauthorizedPause = Duration.seconds(60)
    /// How often a process standing by looks whether the account is free.
    static let standbyPause = Duration.seconds(5)

    /// Room events Baton reads: messages, encryption, and membership (to see its own join).
    private static let eventTypes = #"["m.room.message","m.room.encrypted","m.room.encryption","m.room.member"]"#
    /// The `/sync` filter: what Baton reads, and at most `paging.timelineLimit` events a room.
    var filter: String {
        #"{"room":{"timeline":{"limit":\#(paging.timelineLimit),"types":\#(Self.eventTypes)},"#
            + #""state":{"types":["m.room.encryption"]},"ephemeral":{"not_types":["*"]},"account_data":{"not_types":["*"]}},"#
            + #""presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}"#
    }
    static let historyFilter = #"{"types":\#(eventTypes)}"#
    /// A `/sync` filter that leaves out everything but invites (which no filter takes away).
    static let invitesFilter =
        #"{"room":{"timeline":{"limit":0},"state":{"types":[]},"ephemeral":{"not_types":["*"]},"account_data":{"not_types":["*"]}},"#
        + #""presence":{"not_types":["*"]},"account_data":{"not_types":["*"]}}"#

    /// Runs until cancelled.
    func run() async {
        var backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(60))
        var prepared = false
        while !Task.isCancelled {
            do {
                if !prepared {
                    try await prepare()
                    prepared = true
                }
                try await syncOnce()
                await retryPendingJoins()
                backoff.succeeded()
                await report(.connected, reason: nil)
            } catch {
                if Task.isCancelled { return }
                let pause: Duration
                if let error = error as? MatrixAccountClaim.HeldElsewhere {
                    pause = Self.standbyPause
                    prepared = false
                    if gateway.networks.snapshot[MatrixNetwork.name]?.state != .standby {
                        logger.error(
                            "Another Baton answers this Matrix account; standing by",
                            metadata: ["baton.error": "\(error)", "baton.holder_host": "\(error.holder.host)", "baton.holder_pid": "\(error.holder.pid)"])
                    }
                    await report(.standby, reason: error.description)
                } else if let error = error as? MatrixError, error.isUnauthorized {
                    pause = Self.unauthorizedPause
                    prepared = false
                    await report(.unauthorized, reason: error.description)
                    logger.error(
                        "The homeserver refused Baton's Matrix access token; check matrix.access_token and restart",
                        metadata: ["baton.error": "\(error)", "baton.retry_in": "\(pause)"])
                } else {
                    pause = backoff.failed(hint: (error as? MatrixError)?.retryAfter)
                    metrics.retried(.sync)
                    await report(.backingOff, reason: "\(error)")
                    logger.warning("Matrix sync failed; retrying", metadata: ["baton.error": "\(error)", "baton.retry_in": "\(pause)"])
                }
                do { try await Task.sleep(for: pause) } catch { return }
            }
        }
    }

    /// Checks the token, joins the configured rooms, answers the invites that stand, and
    /// learns which rooms are joined.
    ///
    /// An invite is in a sync only once, in the batch it came in: one an earlier process
    /// could not take up before it stopped (its join failed for a while, the bot's account
    /// was suspended) would otherwise stand unanswered for good, the stored position past it.
    private func prepare() async throws {
        let me = try await client.whoAmI()
        guard me.userID == configuration.userID else {
            throw MatrixError(.http(status: 401), errcode: "M_UNKNOWN_TOKEN", message: "the token belongs to \(me.userID), not matrix.user_id \(configuration.userID)")
        }
        try await claim.claim { position, holder in
            // The other store's Baton answered everything up to where it stopped; this
            // store's own position, if any, is behind that.
            let from: String
            if let position { from = position } else { from = try await client.sync(since: nil, filter: filter, timeout: .zero).nextBatch }
            try await writer.write([.saveCursor(network: MatrixNetwork.name, cursor: from)])
            logger.notice(
                "Taking over the Matrix account from another Baton",
                metadata: [
                    "baton.holder_host": "\(holder.host)", "baton.holder_pid": "\(holder.pid)",
                    "baton.reading_from": "\(position == nil ? "now (it stopped without saying where)" : "where it stopped")",
                ])
        }
        for room in configuration.rooms {
            await join(room, reason: "a room of matrix.rooms")
        }
        if try await store.cursor(network: MatrixNetwork.name) != nil {
            try await handleInvites(try await client.sync(since: nil, filter: Self.invitesFilter, timeout: .zero))
        }
        let rooms = try await client.joinedRooms()
        await gateway.updateNetwork(MatrixNetwork.name) { $0.rooms = rooms.sorted() }
    }

    private func syncOnce() async throws {
        guard let since = try await store.cursor(network: MatrixNetwork.name) else {
            // First start: the position now, without the rooms' history.
            let response = try await client.sync(since: nil, filter: filter, timeout: .zero)
            try await claim.renewIfDue()
            try await handleInvites(response)
            try await writer.write([.saveCursor(network: MatrixNetwork.name, cursor: response.nextBatch)])
            logger.info("First Matrix sync: answering messages from now on")
            return
        }
        let response = try await client.sync(since: since, filter: filter, timeout: Self.pollTimeout)
        // Before anything in it is handled: a holder cut off past the claim's lifetime
        // must not answer what the Baton that took over has answered.
        try await claim.renewIfDue()
        try await handleInvites(response)
        for (room, joined) in (response.rooms?.join ?? [:]).sorted(by: { $0.key < $1.key }) {
            try await handle(joined, of: room, since: since)
        }
        let left = Set((response.rooms?.leave ?? [:]).keys)
        let joined = Set((response.rooms?.join ?? [:]).keys)
        if !left.isEmpty || !joined.isEmpty {
            await gateway.updateNetwork(MatrixNetwork.name) { $0.rooms = Set($0.rooms).union(joined).subtracting(left).sorted() }
        }
        // Everything this position covers is on disk: only now may it be stored.
        if response.nextBatch != since {
            try await writer.write([.saveCursor(network: MatrixNetwork.name, cursor: response.nextBatch)])
        }
    }

    private func handle(_ room: MatrixSyncResponse.JoinedRoom, of id: String, since: String) async throws {
        var events = room.timeline?.events ?? []
        if room.timeline?.limited == true, let previous = room.timeline?.previousBatch {
            events = try await history(of: id, from: previous, to: since) + events
        }
        let reading = MatrixTimeline.read(events, room: id, bot: configuration.userID)
        if reading.encrypted || (room.state?.events ?? []).contains(where: { $0.type == "m.room.encryption" }) {
            try await noticeEncryption(in: id)
        }
        for message in reading.messages {
            metrics.received(age: Date().timeIntervalSince(message.sentAt))
            if let id = message.incoming.id { threads.record(id, root: message.threadRoot) }
            if case .restart = ChatCommand(text: message.incoming.text), message.sentAt < gateway.startedAt,
                gateway.configuration.admins.contains(message.incoming.user)
            {
                // An admin's, sent to an earlier process, which restarted for it (this
                // process is the restart) or died before it could: either way it is served.
                // Anyone else's is answered as it would have been: only admins may.
                logger.info("Skipped a /restart sent before this process started", metadata: ["baton.room": "\(id)"])
                continue
            }
            try await accept(message.incoming)
        }
    }

    /// The events between the last sync and this one's timeline, oldest first, when the
    /// timeline was cut short (many messages while Baton was away).
    ///
    /// Pages are read back from the timeline's start until the homeserver gives no further
    /// page (`end` left out: the last sync's position is reached), however many there are:
    /// a page may be empty and still have an `end` (every event in it hidden from the bot).
    /// Reading stops early at the bot's own join, as what came before it is not answered.
    private func history(of room: String, from start: String, to since: String) async throws -> [MatrixRoomEvent] {
        var collected: [MatrixRoomEvent] = []
        var from = start
        var pages = 0
        while true {
            let page = try await client.messages(in: room, from: from, to: since, filter: Self.historyFilter, limit: paging.historyPage)
            pages += 1
            if let join = page.chunk.firstIndex(where: { MatrixTimeline.isJoin(of: configuration.userID, $0) }) {
                collected += page.chunk[...join]
                break
            }
            collected += page.chunk
            guard let end = page.end, end != from else { break }
            from = end
            if pages.isMultiple(of: 100) {
                logger.info("Reading a long room history missed by the last sync", metadata: ["baton.room": "\(room)", "baton.events": "\(collected.count)"])
            }
        }
        logger.info(
            "Read a room's history missed by the last sync",
            metadata: ["baton.room": "\(room)", "baton.events": "\(collected.count)", "baton.pages": "\(pages)"])
        return collected.reversed()
    }

    /// Hands one message to the gateway; what the gateway refuses is told to the room.
    ///
    /// A message read again (its batch failed part-way, or the process died before the
    /// position was stored) that was answered by a notice, a command or a refusal, is
    /// left be: the notice is not repeated, and a refused message is not taken after all.
    private func accept(_ message: IncomingMessage) async throws {
        let room = message.session
        if let id = message.id, try await gateway.wasAnswered(id) { return }
        let limit = gateway.configuration.limits.maxMessageBytes
        if message.text.utf8.count > limit {
            // As the HTTP API refuses such a message with a 413: no turn, and the room is told.
            let text = "Your message is \(message.text.utf8.count) bytes, over limits.max_message_bytes (\(limit)); it was not taken. Send a shorter one."
            return try await gateway.notify(session: room, kind: .error, text: text, message: message.id)
        }
        do {
            switch try await gateway.accept(message) {
            case .acknowledged:
                await typing.started(in: room)
            case .rejected(.draining):
                let text =
                    await gateway.status().drain?.reason == .stop
                    ? "Baton is stopping and not taking messages; send yours again once it is back."
                    : "Baton is restarting and not taking messages now; send yours again in a moment."
                try await gateway.notify(session: room, kind: .rejected, text: text, message: message.id)
            case .rejected(.busy):
                let text = "Baton is still answering an earlier message; send yours again once it is done."
                try await gateway.notify(session: room, kind: .rejected, text: text, message: message.id)
            case .restarting, .answered:
                break
            }
        } catch {
            guard [.forbidden, .queueFull, .restartRefused, .idConflict].contains(error.code) else { throw error }
            try await gateway.notify(session: room, kind: .error, text: error.description, message: message.id)
        }
    }

    private func handleInvites(_ response: MatrixSyncResponse) async throws {
        for (room, invite) in (response.rooms?.invite ?? [:]).sorted(by: { $0.key < $1.key }) {
            let inviter = invite.inviteState?.events?.last {
                $0.type == "m.room.member" && $0.stateKey == configuration.userID && $0.membership == "invite"
            }?.sender
            let accepted: Bool
            switch configuration.autoJoin {
            case .anyone: accepted = true
            case .admins: accepted = inviter.map(gateway.configuration.admins.contains) ?? false
            case .none: accepted = false
            }
            var metadata: Logger.Metadata = ["baton.room": "\(room)", "baton.inviter": "\(inviter ?? "unknown")"]
            guard accepted else {
                do {
                    try await client.leave(room)
                    logger.notice("Declined a room invite (matrix.auto_join: \(configuration.autoJoin.rawValue))", metadata: metadata)
                } catch {
                    // Refused, whatever the reason: the invite is left unanswered rather
                    // than holding up every room's sync for it. Anything else (unreachable,
                    // rate-limited, the token refused) fails the batch, to be read again.
                    guard error.isRefusal else { throw error }
                    metadata["baton.error"] = "\(error)"
                    logger.warning("Could not decline a room invite", metadata: metadata)
                }
                continue
            }
            await join(room, reason: "an invite from \(inviter ?? "unknown")")
        }
    }

    /// Joins `room` (an id or an alias). A failure that may pass (the room's homeserver out
    /// of reach: a 502, a timeout; the bot's account suspended) is tried again in the
    /// background instead of holding up the sync of every other room; a refusal of this
    /// room (not invited, banned, no such room) is logged and left.
    private func join(_ room: String, reason: String) async {
        let metadata: Logger.Metadata = ["baton.room": "\(room)", "baton.reason": "\(reason)"]
        do {
            let id = try await client.join(room)
            pendingJoins.done(room)
            await gateway.updateNetwork(MatrixNetwork.name) { $0.rooms = Set($0.rooms).union([id]).sorted() }
            logger.info("Joined a room", metadata: metadata.merging(["baton.room_id": "\(id)"]) { $1 })
        } catch {
            if error.isRefusalOfThisRequest || error.isUnauthorized {
                pendingJoins.done(room)
                logger.error("Cannot join a room", metadata: metadata.merging(["baton.error": "\(error)"]) { $1 })
            } else {
                pendingJoins.failed(room, hint: error.retryAfter)
                logger.warning("Could not join a room yet; trying again later", metadata: metadata.merging(["baton.error": "\(error)"]) { $1 })
            }
        }
    }

    /// Tries again the joins that failed for a while and are due.
    private func retryPendingJoins() async {
        for room in pendingJoins.due() {
            await join(room, reason: "a join tried again")
        }
    }

    /// Tells an encrypted room, once, that Baton cannot read it.
    private func noticeEncryption(in room: String) async throws {
        let mark = "encrypted:\(room)"
        guard try await !store.hasMark(network: MatrixNetwork.name, mark: mark) else { return }
        // The notice and its mark in one commit: a crash or a failed write in between
        // would give the notice again.
        try await gateway.notify(
            session: room, kind: .error,
            text: "This room is end-to-end encrypted, and Baton cannot read encrypted messages. Talk to it in a room without encryption.",
            alsoWriting: [.addMark(network: MatrixNetwork.name, mark: mark)])
        logger.warning("Room is encrypted; its messages cannot be read", metadata: ["baton.room": "\(room)"])
    }

    private func report(_ state: ChatNetworkStatus.State, reason: String?) async {
        await gateway.updateNetwork(MatrixNetwork.name) {
            $0.state = state
            $0.reason = reason
        }
    }
}
