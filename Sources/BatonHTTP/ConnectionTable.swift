import DequeModule

/// The chat API's open connections and what each is doing, bounded by a maximum: the
/// decisions of ``ConnectionRegistry`` as a pure state machine, without I/O or clocks.
///
/// When a connection arrives at the maximum, one already open is chosen to make room:
/// the one idle the longest (between requests, or connected without sending anything),
/// else the one that has been sending its request the longest (the slowest reader). A
/// connection whose request is being answered (an event stream included) is never chosen;
/// when every connection is being answered the newcomer is refused.
struct ConnectionTable {
    /// A connection's number, given when it opens.
    typealias ID = UInt64

    /// What a connection is doing.
    enum Phase: Sendable, Equatable {
        /// Waiting for its first or next request.
        case idle
        /// Sending a request: its first byte has arrived, its end has not.
        case reading
        /// Every request read, a response (or event stream) under way.
        case answering
    }

    /// What to do with a connection that just opened.
    enum OpenAction: Equatable {
        /// Serve it; if `evicting` is set, close that connection to make room.
        case accept(evicting: ID?)
        /// Close it at once: the table is full and no connection may make room.
        case refuse
    }

    let maximum: Int
    private var phases: [ID: (phase: Phase, stamp: UInt64)] = [:]
    /// Connections in the order they became idle, oldest first. Entries go stale when the
    /// connection changes phase or closes (their stamp no longer matches) and are skipped.
    private var idleOrder: Deque<(id: ID, stamp: UInt64)> = []
    /// Connections in the order they began reading their request, oldest first; stale
    /// entries as in `idleOrder`.
    private var readingOrder: Deque<(id: ID, stamp: UInt64)> = []
    private var nextStamp: UInt64 = 0

    init(maximum: Int) {
        precondition(maximum > 0, "a connection table holds at least one connection")
        self.maximum = maximum
    }

    /// Open connections.
    var count: Int { phases.count }

    /// The phase of `id`, nil once it is closed or chosen to make room.
    func phase(of id: ID) -> Phase? { phases[id]?.phase }

    /// A connection has opened; it starts idle.
    mutating func open(_ id: ID) -> OpenAction {
        var evicting: ID?
        if phases.count >= maximum {
            guard let victim = popOldest(.idle) ?? popOldest(.reading) else { return .refuse }
            phases[victim] = nil
            evicting = victim
        }
        set(id, .idle)
        return .accept(evicting: evicting)
    }

    /// `id` is now in `phase`; nothing happens when it is no longer in the table.
    mutating func update(_ id: ID, to phase: Phase) {
        guard let current = phases[id], current.phase != phase else { return }
        set(id, phase)
    }

    /// `id` has closed.
    mutating func close(_ id: ID) {
        phases[id] = nil
        compactIfStale()
    }

    private mutating func set(_ id: ID, _ phase: Phase) {
        nextStamp += 1
        phases[id] = (phase, nextStamp)
        switch phase {
        case .idle: idleOrder.append((id, nextStamp))
        case .reading: readingOrder.append((id, nextStamp))
        case .answering: break
        }
        compactIfStale()
    }

    /// Removes and returns the connection that has been in `phase` the longest.
    private mutating func popOldest(_ phase: Phase) -> ID? {
        while let entry = phase == .idle ? idleOrder.popFirst() : readingOrder.popFirst() {
            if isCurrent(entry, in: phase) { return entry.id }
        }
        return nil
    }

    /// Drops stale entries once they outnumber the live ones, so that the orders stay
    /// proportional to the open connections however many requests they serve.
    private mutating func compactIfStale() {
        let limit = 2 * phases.count + 64
        if idleOrder.count > limit { idleOrder = Deque(idleOrder.filter { isCurrent($0, in: .idle) }) }
        if readingOrder.count > limit { readingOrder = Deque(readingOrder.filter { isCurrent($0, in: .reading) }) }
    }

    private func isCurrent(_ entry: (id: ID, stamp: UInt64), in phase: Phase) -> Bool {
        guard let current = phases[entry.id] else { return false }
        return current.phase == phase && current.stamp == entry.stamp
    }
}
