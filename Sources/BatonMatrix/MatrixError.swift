/// A request to the homeserver that failed, with what it means for a retry.
public struct MatrixError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The homeserver answered with a status that is not 2xx.
        case http(status: Int)
        /// No answer: refused, reset, timed out.
        case transport
        /// An answer that is not the JSON the specification describes.
        case malformed
    }

    public let kind: Kind
    /// The Matrix error code (`M_FORBIDDEN`, `M_LIMIT_EXCEEDED`), when the homeserver sent one.
    public let errcode: String?
    public let message: String
    /// The homeserver's `retry_after_ms`, when it sent one.
    public let retryAfter: Duration?

    public init(_ kind: Kind, errcode: String? = nil, message: String, retryAfter: Duration? = nil) {
        self.kind = kind
        self.errcode = errcode
        self.message = message
        self.retryAfter = retryAfter
    }

    /// The access token is missing, unknown or revoked: retrying will not help.
    public var isUnauthorized: Bool {
        kind == .http(status: 401) || errcode == "M_UNKNOWN_TOKEN" || errcode == "M_MISSING_TOKEN"
    }

    /// Too many requests: retry after ``retryAfter``.
    public var isRateLimited: Bool {
        kind == .http(status: 429) || errcode == "M_LIMIT_EXCEEDED"
    }

    /// A refusal that will not change by sending the same request again (not in the room,
    /// no such room, a bad request).
    public var isPermanent: Bool {
        guard case .http(let status) = kind, !isRateLimited, !isUnauthorized else { return false }
        return (400..<500).contains(status) && status != 408
    }

    public var description: String {
        switch kind {
        case .http(let status): "HTTP \(status)\(errcode.map { " \($0)" } ?? ""): \(message)"
        case .transport: "homeserver unreachable: \(message)"
        case .malformed: "unexpected answer from the homeserver: \(message)"
        }
    }
}
