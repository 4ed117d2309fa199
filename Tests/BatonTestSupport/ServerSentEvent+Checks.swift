/// What tests read off a session's events.
extension Array where Element == ServerSentEvent {
    /// The ids of numbered events, in the order received.
    public var numberedIDs: [Int64] { compactMap(\.id) }

    /// Whether the numbered ids only ever grow: no event came twice, none out of order.
    public var idsStrictlyIncrease: Bool {
        let ids = numberedIDs
        return zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 }
    }

    /// The message ids the replies answer, in the order received.
    public var replyTargets: [String] { filter(\.isReply).compactMap { $0.payload?.inReplyTo } }

    /// The messages answered, each once, in the order of their first reply.
    public var answeredMessages: [String] {
        var seen: Set<String> = []
        return replyTargets.filter { seen.insert($0).inserted }
    }

    /// Position of the first reply to `message`.
    public func firstReply(to message: String) -> Int? {
        firstIndex { $0.isReply && $0.payload?.inReplyTo == message }
    }

    /// Position of the first `notice` of `kind` about `message` (any message when nil).
    public func firstNotice(_ kind: String, about message: String? = nil) -> Int? {
        firstIndex { $0.isNotice(kind) && (message == nil || $0.payload?.message == message) }
    }

    /// Position of the first `goodbye`.
    public var firstGoodbye: Int? { firstIndex(where: \.isGoodbye) }

    /// The numbered events, one per id (the last copy of each), in id order.
    public var byID: [Int64: ServerSentEvent] {
        Dictionary(compactMap { event in event.id.map { ($0, event) } }, uniquingKeysWith: { $1 })
    }
}
