import DequeModule

/// Decides which message's turn runs next: one turn at a time per session, in acceptance
/// order, at most `maxConcurrentTurns` across sessions, none while draining.
///
/// A pure state machine: it is told what happened and answers with the turns to start.
/// A message joins its session's queue as soon as it is accepted but may start only once
/// it is on disk (``markDurable(_:session:)``), so the order is never broken by commits
/// finishing out of order.
public struct TurnScheduler: Sendable {
    /// A turn to start.
    public struct Start: Sendable, Equatable {
        public var message: String
        public var session: String

        public init(message: String, session: String) {
            self.message = message
            self.session = session
        }
    }

    struct Entry: Sendable {
        var message: String
        var durable: Bool
    }

    struct SessionQueue: Sendable {
        var waiting: Deque<Entry> = []
        var running: String?
        /// In the ready list: idle with a durable head, waiting for a free slot.
        var isReady = false
    }

    private var sessions: [String: SessionQueue] = [:]
    /// Sessions that can start a turn as soon as a slot frees, oldest first.
    private var ready: Deque<String> = []
    public private(set) var runningCount = 0
    public private(set) var waitingCount = 0
    public private(set) var isDraining = false
    public let maxConcurrentTurns: Int

    public init(maxConcurrentTurns: Int) {
        precondition(maxConcurrentTurns > 0)
        self.maxConcurrentTurns = maxConcurrentTurns
    }

    /// Sessions with a message waiting or running; idle ones are forgotten.
    public var sessionCount: Int { sessions.count }

    /// Whether the session has a turn running.
    public func isBusy(_ session: String) -> Bool { sessions[session]?.running != nil }

    /// The message whose turn the session is running.
    public func runningMessage(of session: String) -> String? { sessions[session]?.running }

    /// Messages waiting in the session, not counting its running turn.
    public func waitingCount(of session: String) -> Int { sessions[session]?.waiting.count ?? 0 }

    /// Messages ahead of a new one in the session, the running turn included.
    public func position(forNewMessageIn session: String) -> Int {
        guard let queue = sessions[session] else { return 0 }
        return queue.waiting.count + (queue.running == nil ? 0 : 1)
    }

    /// Whether a message accepted now would start at once (once durable).
    public func wouldStartImmediately(in session: String) -> Bool {
        !isDraining && position(forNewMessageIn: session) == 0 && runningCount < maxConcurrentTurns
            && ready.isEmpty
    }

    /// Adds an accepted message at the back of its session's queue.
    public mutating func enqueue(_ message: String, session: String, durable: Bool) -> [Start] {
        sessions[session, default: SessionQueue()].waiting.append(Entry(message: message, durable: durable))
        waitingCount += 1
        return refresh(session)
    }

    /// The message is on disk; it may now start.
    public mutating func markDurable(_ message: String, session: String) -> [Start] {
        guard var queue = sessions[session],
            let index = queue.waiting.firstIndex(where: { $0.message == message })
        else { return [] }
        queue.waiting[index].durable = true
        sessions[session] = queue
        return refresh(session)
    }

    /// Drops a message that never made it to disk.
    public mutating func remove(_ message: String, session: String) -> [Start] {
        guard var queue = sessions[session],
            let index = queue.waiting.firstIndex(where: { $0.message == message })
        else { return [] }
        queue.waiting.remove(at: index)
        waitingCount -= 1
        sessions[session] = queue
        return refresh(session)
    }

    /// The session's turn ended, however it ended.
    public mutating func turnEnded(session: String) -> [Start] {
        guard sessions[session]?.running != nil else { return [] }
        sessions[session]?.running = nil
        runningCount -= 1
        return refresh(session)
    }

    /// From now on no turn starts.
    public mutating func startDraining() {
        isDraining = true
    }

    /// Every turn the scheduler counts as running, for the reconciler to check.
    var runningTurns: [Start] {
        sessions.compactMap { session, queue in queue.running.map { Start(message: $0, session: session) } }
    }

    /// Messages still waiting, per session, in order (for status and tests).
    public func waitingMessages(of session: String) -> [String] {
        sessions[session]?.waiting.map(\.message) ?? []
    }

    /// Puts the session on the ready list if it can run, forgets it if it is empty, then
    /// starts what the free slots allow.
    private mutating func refresh(_ session: String) -> [Start] {
        if var queue = sessions[session] {
            if queue.running == nil, queue.waiting.isEmpty {
                if queue.isReady { ready.removeAll { $0 == session } }
                sessions[session] = nil
            } else {
                if queue.running == nil, queue.waiting.first?.durable == true, !queue.isReady {
                    queue.isReady = true
                    ready.append(session)
                }
                sessions[session] = queue
            }
        }
        return startReady()
    }

    private mutating func startReady() -> [Start] {
        guard !isDraining else { return [] }
        var starts: [Start] = []
        while runningCount < maxConcurrentTurns, let session = ready.popFirst() {
            guard var queue = sessions[session] else { continue }
            queue.isReady = false
            guard queue.running == nil, let head = queue.waiting.first, head.durable else {
                sessions[session] = queue
                continue
            }
            queue.waiting.removeFirst()
            queue.running = head.message
            sessions[session] = queue
            waitingCount -= 1
            runningCount += 1
            starts.append(Start(message: head.message, session: session))
        }
        return starts
    }
}
