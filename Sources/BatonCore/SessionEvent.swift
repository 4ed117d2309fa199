import Foundation

/// One durable event of a session's stream: a reply or a notice.
///
/// Ids grow by one per session and survive restarts, so a client that resumes with
/// `Last-Event-ID` sees every event after it once.
public struct SessionEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case reply
        case notice
    }

    public var session: String
    public var id: Int64
    public var kind: Kind
    /// The event's JSON payload, as sent in the stream's `data:` line.
    public var data: String

    public init(session: String, id: Int64, kind: Kind, data: String) {
        self.session = session
        self.id = id
        self.kind = kind
        self.data = data
    }
}

/// The kinds of `notice` event.
public enum NoticeKind: String, Sendable {
    case queued, rejected, draining, interrupted, restarted, status, error
}

/// The last word to every open stream before the process goes away. Not stored: it
/// belongs to one process, and a resuming client must not see an old one.
public struct Goodbye: Sendable, Equatable, Codable {
    public var reason: DrainReason
    public var instance: String

    public init(reason: DrainReason, instance: String) {
        self.reason = reason
        self.instance = instance
    }
}

/// Why a drain started: the process exits 75 after `restart` and 0 after `stop`.
public enum DrainReason: String, Sendable, Codable, Comparable {
    case restart
    case stop

    /// Stop wins over restart.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs == .restart && rhs == .stop }
}
