import DequeModule

/// What a chat network's sessions have stored and had delivered, and which have events
/// still to deliver (``ChatDelivery``).
///
/// Every step costs the same however many sessions the network has: the sessions with
/// events to deliver wait in a queue, in the order they got them (at the start, by name),
/// and the backlog is a count kept as events are noted and delivered.
struct DeliveryProgress {
    /// The last event delivered, by session.
    private(set) var delivered: [String: Int64]
    /// The newest event known to be stored, by session.
    private(set) var latest: [String: Int64]
    /// Events stored and not delivered yet, over all sessions.
    private(set) var backlog = 0
    private var pending: Deque<String> = []
    private var isPending: Set<String> = []

    init(delivered: [String: Int64], latest: [String: Int64]) {
        self.delivered = delivered
        self.latest = latest
        for (session, id) in latest.sorted(by: { $0.key < $1.key }) where id > (delivered[session] ?? 0) {
            backlog += Int(id - (delivered[session] ?? 0))
            pending.append(session)
            isPending.insert(session)
        }
    }

    /// The session to deliver to next: the one waiting longest.
    var nextPendingSession: String? { pending.first }

    /// Records a published event; true when it is news.
    mutating func note(_ event: SessionEvent) -> Bool {
        let sent = delivered[event.session] ?? 0
        guard event.id > sent else { return false }
        let newest = latest[event.session] ?? 0
        if event.id > newest {
            backlog += Int(event.id - max(newest, sent))
            latest[event.session] = event.id
        }
        if isPending.insert(event.session).inserted { pending.append(event.session) }
        return true
    }

    /// Records that the session's events through `id` were delivered.
    mutating func delivered(_ session: String, through id: Int64) {
        let sent = delivered[session] ?? 0
        guard id > sent else { return }
        let newest = latest[session] ?? 0
        backlog -= Int(max(0, min(id, newest) - sent))
        delivered[session] = id
    }

    /// Everything stored for the session was read and delivered: nothing is pending there
    /// until the next published event says otherwise.
    mutating func caughtUp(_ session: String) {
        let sent = delivered[session] ?? 0
        backlog -= Int(max(0, (latest[session] ?? 0) - sent))
        latest[session] = sent
        if isPending.remove(session) != nil, let index = pending.firstIndex(of: session) {
            pending.remove(at: index)
        }
    }
}
