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

    private typealias Sessions = [String: SessionQueue]
    private var sessions: Sessions = [:]
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

    /// What a session holds, read with one lookup: for a new message's checks.
    public struct SessionView: Sendable, Equatable {
        /// The message whose turn the session is running.
        public var running: String?
        /// Messages waiting, not counting the running turn.
        public var waiting: Int

        /// Whether the session has a turn running or messages waiting.
        public var hasWork: Bool { running != nil || waiting > 0 }
        /// Messages ahead of a new one in the session, the running turn included.
        public var position: Int { waiting + (running == nil ? 0 : 1) }
    }

    /// The session as it is now.
    public func view(of session: String) -> SessionView {
        guard let queue = sessions[session] else { return SessionView(running: nil, waiting: 0) }
        return SessionView(running: queue.running, waiting: queue.waiting.count)
    }

    /// Whether a message accepted now into a session seen as `view` would start at once
    /// (once durable).
    public func wouldStartImmediately(given view: SessionView) -> Bool {
        !isDraining && view.position == 0 && runningCount < maxConcurrentTurns && ready.isEmpty
    }

    /// Whether the session has a turn running.
    public func isBusy(_ session: String) -> Bool { sessions[session]?.running != nil }

    /// The message whose turn the session is running.
    public func runningMessage(of session: String) -> String? { sessions[session]?.running }

    /// Messages waiting in the session, not counting its running turn.
    public func waitingCount(of session: String) -> Int { sessions[session]?.waiting.count ?? 0 }

    /// Adds an accepted message at the back of its session's queue.
    public mutating func enqueue(_ message: String, session: String, durable: Bool) -> [Start] {
        let entry = Entry(message: message, durable: durable)
        let index: Sessions.Index
        if let existing = sessions.index(forKey: session) {
            sessions.values[existing].waiting.append(entry)
            index = existing
        } else {
            sessions[session] = SessionQueue(waiting: [entry])
            index = sessions.index(forKey: session)!
        }
        waitingCount += 1
        return refresh(at: index)
    }

    /// The message is on disk; it may now start.
    public mutating func markDurable(_ message: String, session: String) -> [Start] {
        guard let index = sessions.index(forKey: session),
            let position = sessions.values[index].waiting.firstIndex(where: { $0.message == message })
        else { return [] }
        sessions.values[index].waiting[position].durable = true
        return refresh(at: index)
    }

    /// Drops a message that never made it to disk.
    public mutating func remove(_ message: String, session: String) -> [Start] {
        guard let index = sessions.index(forKey: session),
            let position = sessions.values[index].waiting.firstIndex(where: { $0.message == message })
        else { return [] }
        sessions.values[index].waiting.remove(at: position)
        waitingCount -= 1
        return refresh(at: index)
    }

    /// Drops every message waiting in the session: its lease ran out, so a peer runs them.
    /// Returns them, and the turns of other sessions that may start now.
    public mutating func dropWaiting(in session: String) -> (dropped: [String], starts: [Start]) {
        guard let index = sessions.index(forKey: session) else { return ([], []) }
        let dropped = sessions.values[index].waiting.map(\.message)
        sessions.values[index].waiting.removeAll()
        waitingCount -= dropped.count
        return (dropped, refresh(at: index))
    }

    /// The session's turn ended, however it ended.
    public mutating func turnEnded(session: String) -> [Start] {
        guard let index = sessions.index(forKey: session), sessions.values[index].running != nil else { return [] }
        sessions.values[index].running = nil
        runningCount -= 1
        return refresh(at: index)
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

    /// Puts the session at `index` on the ready list if it can run, forgets it if it is
    /// empty, then starts what the free slots allow.
    ///
    /// Sessions are changed in place, through their index: a copy of a session's queue
    /// taken out of the dictionary and put back would copy its storage, and hash its name
    /// again, on every change.
    private mutating func refresh(at index: Sessions.Index) -> [Start] {
        let isIdle = sessions.values[index].running == nil
        if isIdle, sessions.values[index].waiting.isEmpty {
            let session = sessions.keys[index]
            if sessions.values[index].isReady { ready.removeAll { $0 == session } }
            sessions.remove(at: index)
        } else if isIdle, sessions.values[index].waiting.first?.durable == true, !sessions.values[index].isReady {
            sessions.values[index].isReady = true
            ready.append(sessions.keys[index])
        }
        return startReady()
    }

    private mutating func startReady() -> [Start] {
        guard !isDraining else { return [] }
        var starts: [Start] = []
        while runningCount < maxConcurrentTurns, let session = ready.popFirst() {
            guard let index = sessions.index(forKey: session) else { continue }
            sessions.values[index].isReady = false
            guard sessions.values[index].running == nil, let head = sessions.values[index].waiting.first, head.durable else { continue }
            sessions.values[index].waiting.removeFirst()
            sessions.values[index].running = head.message
            waitingCount -= 1
            runningCount += 1
            starts.append(Start(message: head.message, session: session))
        }
        return starts
    }
}
