import BatonCore

/// Who sent an API request, as far as Baton can tell, and so whom it may speak for.
///
/// A token's holder is who the configuration says: a trusted front end (any user) or
/// the users the token lists. Without tokens nobody is proven; Baton then trusts the
/// user a message names only for a request from this machine.
public struct Caller: Sendable, Equatable {
    /// The name logs and metrics show: the token's name, or `unauthenticated`.
    public let name: String
    /// The users the caller may post messages as; nil for any user.
    public let users: Set<String>?
    /// Whether Baton believes the user a message names, so that an admin may send admin
    /// commands: for every token, and without tokens for a request from this machine.
    public let vouchesForUser: Bool

    /// The name of a caller on an API without tokens.
    public static let unauthenticatedName = "unauthenticated"

    /// The holder of `token`, named `name` in logs and metrics.
    public static func token(_ token: APIToken, name: String) -> Caller {
        Caller(name: name, users: token.users.map(Set.init), vouchesForUser: true)
    }

    /// A caller on an API without tokens, local or not.
    public static func unauthenticated(fromThisMachine: Bool) -> Caller {
        Caller(name: unauthenticatedName, users: nil, vouchesForUser: fromThisMachine)
    }

    /// Whether the caller may post messages as `user`.
    public func maySpeak(for user: String) -> Bool {
        users?.contains(user) ?? true
    }

    /// Whether an admin command the caller sends as `user` is taken (if `user` is an admin).
    public func mayCommand(as user: String) -> Bool {
        maySpeak(for: user) && vouchesForUser
    }

    /// Why this caller may not send `message`, in words for the client; nil when it may.
    public func refusal(of message: IncomingMessage) -> String? {
        if let users, !maySpeak(for: message.user) {
            return "token \(name) may not speak for user \(message.user); it speaks only for \(users.sorted().joined(separator: ", "))"
        }
        if !vouchesForUser, ChatCommand(text: message.text)?.needsAdmin == true {
            return "user \(message.user) cannot be vouched for: without api_tokens, admin commands are taken only from this machine; "
                + "use a token, or run baton restart on the machine"
        }
        return nil
    }
}
