import Foundation

/// Baton's durable state: messages, their states and session events.
///
/// Two implementations sit behind the same gateway: ``SQLiteStore`` for one process (the
/// default) and a PostgreSQL store shared by several processes. Writes reach a store only
/// through ``StoreWriter``, which groups concurrent ones into one ``commit(_:)``; reads may
/// come from anywhere.
public protocol Store: Sendable {
    /// The message stored under `id`, if any.
    func message(id: String) async throws -> Message?

    /// Messages that still owe their session a turn, in acceptance order.
    func pendingMessages() async throws -> [Message]

    /// The session's messages that still owe it a turn, in acceptance order.
    func pendingMessages(session: String) async throws -> [Message]

    /// The session's events with ids above `after`, oldest first, at most `limit`.
    func events(session: String, after: Int64, limit: Int) async throws -> [SessionEvent]

    /// The highest event id of every session whose name starts with `prefix` and that has
    /// events stored: what a chat network's start needs. Reads an index entry per such
    /// session, however many events they hold.
    func lastEventIDs(sessionsStartingWith prefix: String) async throws -> [String: Int64]

    /// The highest event id the session has ever had, 0 when it never had one; events
    /// pruned since count (the next one gets a higher id).
    func lastEventID(session: String) async throws -> Int64

    /// How many messages are stored, in any state.
    func messageCount() async throws -> Int

    /// Commits `groups` in one transaction with a savepoint per group, so one group that
    /// fails (a duplicate id, say) fails alone. Returns, per group, the events it appended
    /// with the ids they were stored under, or why the group failed. The store assigns
    /// event ids inside the transaction, one above the session's highest ever (pruned
    /// events included), so ids only grow and two processes never use one twice; the id
    /// an appended ``SessionEvent`` comes with is ignored.
    /// Throws when the transaction as a whole failed: then nothing was committed.
    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>]

    /// Where ``commit(_:)`` runs when the store needs a thread of its own for it (a commit
    /// that blocks its thread); ``StoreWriter`` runs there too, so it reaches the store
    /// without a hop. Nil: the shared pool.
    var commitExecutor: (any TaskExecutor)? { get }

    /// Removes one batch of old history in one short transaction of its own (not through
    /// ``StoreWriter``: nothing waits on it, and a batch holds the writer for one small
    /// transaction only).
    ///
    /// Looks at up to `limit` messages with sequence numbers above `after`, oldest first,
    /// and deletes those finished (done, failed, cancelled) and accepted before `cutoff`;
    /// deletes up to `limit` of the events created before `cutoff`, oldest first. Never
    /// touches pending messages, chat network cursors, delivery positions, marks or
    /// per-session event counters. Pass the answer's ``StorePruning/examinedThrough`` as
    /// the next batch's `after` while ``StorePruning/hasMore`` holds.
    func prune(before cutoff: Date, after: Int64, limit: Int) async throws -> StorePruning

    /// The position a chat network reads its input from (a Matrix sync token), if stored.
    func cursor(network: String) async throws -> String?

    /// The id of the last event delivered to each session of a chat network.
    func deliveryPositions(network: String) async throws -> [String: Int64]

    /// Whether a chat network recorded `mark` (a one-time notice it has given, say).
    func hasMark(network: String, mark: String) async throws -> Bool
}

/// What a process picks up from the one before it: read once, before the gateway starts.
///
/// Only what is pending: its cost follows the work left, not the history stored.
public struct StoreRecovery: Sendable {
    /// Messages that still owe their session a turn, in acceptance order.
    public var pending: [Message]
    /// The highest message sequence number stored.
    public var lastSequence: Int64

    public init(pending: [Message] = [], lastSequence: Int64 = 0) {
        self.pending = pending
        self.lastSequence = lastSequence
    }
}

/// One change to the store.
public enum StoreWrite: Sendable, Equatable {
    case insertMessage(Message)
    case setState(id: String, state: MessageState)
    case appendEvent(SessionEvent)
    /// A reply event and its ordinal among its message's replies, in one write.
    case appendReply(SessionEvent, message: String, ordinal: Int)
    /// A chat network's input position: stored only once everything before it is.
    case saveCursor(network: String, cursor: String)
    /// A chat network delivered the session's events up to `eventID`.
    case markDelivered(network: String, session: String, eventID: Int64)
    /// A fact to remember: a chat network's one-time notice, or a message answered by a
    /// notice. One that `expires` goes with the history it stands for (`store.retention`);
    /// the others are kept for good.
    case addMark(network: String, mark: String, expires: Bool = false)
    /// The rest of the group commits only while this process holds the session's lease,
    /// under `generation` when given (the lease it held when it wrote the group: not one it
    /// lost since and took again); otherwise the group fails alone with ``LeaseLostError``
    /// and nothing of it is stored. First in its group. A store one process owns has no
    /// leases and ignores it.
    case fence(session: String, generation: Int64? = nil)
}

/// A turn's writes refused because a peer took its session: this process was cut off
/// longer than its lease, and the peer runs the turn again.
public struct LeaseLostError: Error, CustomStringConvertible {
    public var session: String

    public init(session: String) {
        self.session = session
    }

    public var description: String { "the lease on session \(session) is another process's now; its turn's writes are dropped" }
}

/// A store's failure after which its writes may or may not be committed: it stopped
/// answering while it had them (a database across the network that timed out).
public protocol CommitOutcomeUnknown: Error {}

extension Store {
    public var commitExecutor: (any TaskExecutor)? { nil }
}

extension StoreWrite {
    /// The session event this write appends, if it appends one.
    public var event: SessionEvent? {
        switch self {
        case .appendEvent(let event), .appendReply(let event, _, _): event
        default: nil
        }
    }
}
