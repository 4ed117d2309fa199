/// A chat command: a message that steers the gateway instead of going to the agent.
public enum ChatCommand: Sendable, Equatable {
    /// `/restart` (drain first) or `/restart now` (interrupt in-flight turns).
    case restart(now: Bool)
    /// `/status`: answered with a `status` notice.
    case status

    /// The command `text` is, or nil for an ordinary message.
    public init?(text: String) {
        // Most messages are not commands: only text that starts with "/" is looked at.
        guard text.unicodeScalars.first(where: { !$0.isWhiteSpace }) == "/" else { return nil }
        let command = text.trimmingWhiteSpace
        switch command {
        case "/restart": self = .restart(now: false)
        case "/restart now": self = .restart(now: true)
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
