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

    /// The homeserver answered and refused the request: a 4xx other than 401, 408 and 429.
    /// Sending it again at once gets the same answer, but the cause may pass (a suspended
    /// account, a proxy's maintenance page) unless ``isRefusalOfThisRequest``.
    public var isRefusal: Bool {
        guard case .http(let status) = kind, !isRateLimited, !isUnauthorized else { return false }
        return (400..<500).contains(status) && status != 408
    }

    /// A refusal whose Matrix error code says it is about this request, its event or its
    /// room (not in the room, no power to post, no such room, too large, malformed), so
    /// sending it again will never help while other requests may. A refusal of the whole
    /// account or of a passing state (`M_USER_SUSPENDED`, `M_RESOURCE_LIMIT_EXCEEDED`,
    /// `M_CONSENT_NOT_GIVEN`), an unknown code, or none at all (a proxy's error page) is not.
    public var isRefusalOfThisRequest: Bool {
        isRefusal && errcode.map(Self.requestRefusals.contains) == true
    }

    /// The client-server specification's error codes that are about the request itself,
    /// not the account or the homeserver. `M_UNKNOWN` says nothing about what was refused.
    static let requestRefusals: Set<String> = [
        "M_FORBIDDEN", "M_NOT_FOUND", "M_TOO_LARGE", "M_BAD_JSON", "M_NOT_JSON", "M_MISSING_PARAM", "M_INVALID_PARAM",
        "M_UNSUPPORTED_ROOM_VERSION", "M_INCOMPATIBLE_ROOM_VERSION",
    ]

    public var description: String {
        switch kind {
        case .http(let status): "HTTP \(status)\(errcode.map { " \($0)" } ?? ""): \(message)"
        case .transport: "homeserver unreachable: \(message)"
        case .malformed: "unexpected answer from the homeserver: \(message)"
        }
    }
}
