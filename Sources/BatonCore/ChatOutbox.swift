/// The outbound half of a chat network: what ``ChatDelivery`` needs to deliver every
/// reply and notice of the network's rooms exactly once.
public protocol ChatOutbox: Sendable {
    /// The network's name (`matrix`): the key of its stored delivery positions.
    var network: String { get }

    /// Whether `session` is one of this network's rooms.
    func owns(session: String) -> Bool

    /// What the name of every session this network owns starts with (`!` for Matrix
    /// rooms): its start reads only those sessions.
    var sessionPrefix: String { get }

    /// Sends one event to its room. Sending the same event again (after a crash between
    /// the send and the stored position) must not show it twice: derive the network's
    /// idempotency key (a Matrix transaction id) from the event.
    func deliver(_ event: SessionEvent) async throws(ChatDeliveryError)

    /// Everything stored for `session` so far has been delivered.
    func caughtUp(session: String) async
}

/// Why an event could not be delivered, and what to do about it.
public struct ChatDeliveryError: Error, Sendable, CustomStringConvertible {
    public enum Disposition: Sendable, Equatable {
        /// Try the same event again later; `after` is the network's hint, if it gave one.
        case retry(after: Duration?)
        /// The event can never be delivered (the bot left the room, say): skip it.
        case skip
    }

    public var disposition: Disposition
    public var description: String

    public init(_ disposition: Disposition, _ description: String) {
        self.disposition = disposition
        self.description = description
    }
}
