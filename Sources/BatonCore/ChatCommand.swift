import Foundation

/// A chat message that steers Baton instead of going to the agent.
public enum ChatCommand: Sendable, Equatable {
    /// `/restart` (drain first) or `/restart now` (interrupt at once).
    case restart(immediate: Bool)
    /// `/status`: the gateway's state, answered as a notice on the session's stream.
    case status

    /// The command `text` is, surrounding white space ignored; nil for an ordinary message.
    public init?(text: String) {
        switch text.trimmingCharacters(in: .whitespacesAndNewlines) {
        case "/restart": self = .restart(immediate: false)
        case "/restart now": self = .restart(immediate: true)
        case "/status": self = .status
        default: return nil
        }
    }

    /// Whether only users in `admins` may send it.
    public var needsAdmin: Bool {
        switch self {
        case .restart: true
        case .status: false
        }
    }
}
