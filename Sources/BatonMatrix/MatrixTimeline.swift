import BatonCore
import Foundation

/// Decides what in a room's timeline is a message for the agent: pure, so that every
/// rule is tested without a homeserver.
enum MatrixTimeline {
    /// A person's text message, as the gateway takes it.
    struct Message: Equatable {
        var incoming: IncomingMessage
        /// When the homeserver received it.
        var sentAt: Date
        /// The root of the thread it was written in; nil in the main timeline.
        var threadRoot: String? = nil
    }

    /// What a timeline holds for Baton.
    struct Reading: Equatable {
        var messages: [Message] = []
        /// The room is (or became) encrypted: Baton cannot read it.
        var encrypted = false
    }

    /// Reads `events` of `room` (oldest first) as seen by `bot`.
    ///
    /// Only `m.text` messages from others count: notices (other bots), edits, the bot's own
    /// events and anything without an id are skipped. When the bot's own join is in the
    /// timeline, what came before it is history from before Baton was there: skipped. A
    /// change of the bot's display name or avatar (a member event from "join" to "join")
    /// is not a join.
    static func read(_ events: [MatrixRoomEvent], room: String, bot: String) -> Reading {
        // Encryption set before the bot joined still applies to everything after.
        var reading = Reading(encrypted: events.contains { $0.type == "m.room.encryption" || $0.type == "m.room.encrypted" })
        let joined = events.lastIndex { isJoin(of: bot, $0) }
        let fresh = joined.map { events[events.index(after: $0)...] } ?? events[...]
        for event in fresh {
            guard event.type == "m.room.message", event.msgtype == "m.text", event.relation != "m.replace", let sender = event.sender,
                sender != bot, let id = event.eventID, let body = event.body
            else { continue }
            reading.messages.append(
                Message(
                    incoming: IncomingMessage(id: id, session: room, user: sender, text: body.replacingNUL),
                    sentAt: Date(timeIntervalSince1970: Double(event.originServerTimestamp ?? 0) / 1000), threadRoot: event.threadRoot))
        }
        return reading
    }

    /// Whether `event` is `bot` joining the room (not a join changing its name or avatar).
    static func isJoin(of bot: String, _ event: MatrixRoomEvent) -> Bool {
        event.type == "m.room.member" && event.stateKey == bot && event.membership == "join" && event.previousMembership != "join"
    }
}
