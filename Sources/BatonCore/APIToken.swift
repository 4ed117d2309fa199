/// One entry of `api_tokens`: a bearer token and whom its holder may speak for.
///
/// A token proves that a caller may use the API; whom it may post messages as is the
/// second half of the answer. A plain token (`users` nil) belongs to a trusted front end,
/// a bridge or web front end that authenticates its own users and may speak for any of
/// them. A token with `users` may speak only for those users, so a chat user holding it
/// cannot post as an admin and `/restart` the gateway.
public struct APIToken: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The bearer token itself. Never logged, never shown in metrics.
    public var secret: String
    /// The users this token may speak for; nil for a trusted front end (any user).
    public var users: [String]?
    /// The name logs and metrics show for this token, if the configuration gave one.
    public var name: String?

    public init(_ secret: String, users: [String]? = nil, name: String? = nil) {
        self.secret = secret
        self.users = users
        self.name = name
    }

    /// A trusted front end's token.
    public init(stringLiteral secret: String) {
        self.init(secret)
    }

    /// Whether a message from this token's holder may say it comes from `user`.
    public func maySpeak(for user: String) -> Bool {
        users?.contains(user) ?? true
    }

    /// Whom the token speaks for, in words.
    public var speaksFor: String {
        users?.joined(separator: ", ") ?? "any user (trusted front end)"
    }

    /// Name and whom it speaks for, never the secret.
    public var description: String { "\(name ?? "unnamed token") speaks for \(speaksFor)" }
}

extension Array where Element == APIToken {
    /// The name of each token as logs and metrics show it, in order: its configured
    /// `name`, else its place in the list counted from 1 (`token-1`), so that nothing
    /// ever needs the secret to tell tokens apart.
    public var names: [String] {
        enumerated().map { index, token in token.name ?? "token-\(index + 1)" }
    }

    /// Every token by name and whom it speaks for, for the log and `baton check-config`.
    public var summary: String {
        zip(self, names).map { token, name in "\(name) speaks for \(token.speaksFor)" }.joined(separator: "; ")
    }
}
