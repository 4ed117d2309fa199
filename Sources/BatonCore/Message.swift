import Foundation

/// Where a message is in its life. Stored as text in the `messages` table.
public enum MessageState: String, Sendable, Codable {
    /// Waiting behind a busy turn, the turn limit or a drain.
    case queued
    /// Its turn is running (a crash leaves it so; the next process runs it again).
    case running
    /// Answered.
    case done
    /// Its turn was cut short by a drain; the next process runs it again.
    case interrupted
    /// The agent failed, timed out or was unreachable; the session moved on.
    case failed
    /// Replaced by a newer message under `busy_input: interrupt`.
    case cancelled

    /// States whose message still owes its session a turn.
    public static let pending: [MessageState] = [.queued, .running, .interrupted]
}

/// What `POST /v1/messages` answered; replayed for a repeated idempotency key.
public struct Acknowledgement: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable {
        /// The turn starts now.
        case accepted
        /// It waits behind a busy turn, the turn limit or a drain.
        case queued
    }

    public var id: String
    public var session: String
    public var status: Status
    /// Messages ahead of this one in its session, the running turn included.
    public var position: Int
}

/// A chat message as stored.
public struct Message: Sendable, Equatable {
    public var id: String
    /// Acceptance order across all sessions; answers in a session follow it.
    public var sequence: Int64
    public var session: String
    public var user: String
    public var text: String
    public var state: MessageState
    public var acknowledgement: Acknowledgement
    public var acceptedAt: Date
    /// Replies stored for it so far, by earlier runs of its turn included.
    public var replies: Int

    public init(
        id: String, sequence: Int64, session: String, user: String, text: String,
        state: MessageState, acknowledgement: Acknowledgement, acceptedAt: Date, replies: Int = 0
    ) {
        self.id = id
        self.sequence = sequence
        self.session = session
        self.user = user
        self.text = text
        self.state = state
        self.acknowledgement = acknowledgement
        self.acceptedAt = acceptedAt
        self.replies = replies
    }
}
