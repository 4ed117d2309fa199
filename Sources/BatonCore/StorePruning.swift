import Foundation

/// What one batch of ``Store/prune(before:after:limit:)`` removed, and where the next
/// batch starts.
public struct StorePruning: Sendable, Equatable {
    /// Finished messages deleted.
    public var messages: Int
    /// Events deleted.
    public var events: Int
    /// The highest sequence number looked at: the next batch's `after`.
    public var examinedThrough: Int64
    /// Whether another batch may find more to delete.
    public var hasMore: Bool

    public init(messages: Int = 0, events: Int = 0, examinedThrough: Int64 = 0, hasMore: Bool = false) {
        self.messages = messages
        self.events = events
        self.examinedThrough = examinedThrough
        self.hasMore = hasMore
    }

    /// A message as pruning sees it.
    public struct Candidate: Sendable {
        public var id: String
        public var sequence: Int64
        public var state: MessageState
        public var acceptedAt: Date

        public init(id: String, sequence: Int64, state: MessageState, acceptedAt: Date) {
            self.id = id
            self.sequence = sequence
            self.state = state
            self.acceptedAt = acceptedAt
        }
    }

    /// Which of `candidates` (the `limit` oldest above the last batch, by sequence) to
    /// delete, the same for every store.
    ///
    /// Sequence numbers follow acceptance, so messages older than `cutoff` come first:
    /// the first younger one ends the walk, and a batch never reads the young part of the
    /// table. Pending messages are stepped over (the cursor moves past them) and kept.
    public static func plan(
        _ candidates: [Candidate], before cutoff: Date, after: Int64, limit: Int
    ) -> (delete: [String], examinedThrough: Int64, hasMore: Bool) {
        var delete: [String] = []
        var through = after
        for candidate in candidates {
            guard candidate.acceptedAt < cutoff else { return (delete, through, false) }
            through = candidate.sequence
            if candidate.state.isFinished { delete.append(candidate.id) }
        }
        return (delete, through, candidates.count >= limit)
    }
}

extension MessageState {
    /// Done, failed or cancelled: the message owes its session nothing more.
    public var isFinished: Bool {
        switch self {
        case .done, .failed, .cancelled: true
        case .queued, .running, .interrupted: false
        }
    }
}
