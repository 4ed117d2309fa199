import BatonCore

extension AcceptResult {
    /// Whether the gateway stored the message (a `202`).
    public var isAcknowledged: Bool {
        if case .acknowledged = self { true } else { false }
    }
}
