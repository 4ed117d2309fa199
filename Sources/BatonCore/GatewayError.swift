/// A request the gateway refuses; carries the HTTP status clients get and a message safe
/// to show them.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case forbidden
        case queueFull = "queue_full"
        case storeUnavailable = "store_unavailable"
        case restartRefused = "restart_refused"
        case idConflict = "id_conflict"
    }

    public let code: Code
    public let description: String

    /// The HTTP status that answers this error.
    public var httpStatus: Int {
        switch code {
        case .forbidden: 403
        case .queueFull: 429
        // Nothing was stored (or, when the store stopped answering mid-commit, it is not
        // known) and trying again later may work: the store (a database across the
        // network, or a full disk) is not taking writes now.
        case .storeUnavailable: 503
        // The process keeps serving: what the next one would read is wrong.
        case .restartRefused: 409
        // The id names another message: sent again, this one would be taken for it.
        case .idConflict: 409
        }
    }

    static func forbidden(_ message: String) -> Self { Self(code: .forbidden, description: message) }
    static func queueFull(_ message: String) -> Self { Self(code: .queueFull, description: message) }
    static func storeUnavailable(_ message: String) -> Self { Self(code: .storeUnavailable, description: message) }
    static func restartRefused(_ message: String) -> Self { Self(code: .restartRefused, description: message) }
    static func idConflict(_ message: String) -> Self { Self(code: .idConflict, description: message) }
}
