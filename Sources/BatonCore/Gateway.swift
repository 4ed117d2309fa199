import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The heart of Baton: accepts messages, runs one turn at a time per session, drains.
///
/// One actor owns every piece of session and drain state; the decisions themselves are
/// made by the pure ``TurnScheduler`` and ``DrainStateMachine``. Each turn is a task of its
/// own, on this actor from its first line (``startTurns(_:)``); ``run()`` returns the moment
/// a drain has nothing left in flight, and, when cancelled, once the turns it stopped ended.
public actor Gateway: Service {
    /// Identifies this process; fresh on every start.
    public nonisolated let instance: String
    public nonisolated let configuration: Configuration
    /// `systemd` when a supervisor will start the next process after a restart.
    public nonisolated let supervisor: String?
    /// Why the next process would not start (its configuration, read again now), or nil:
    /// asked before a restart drain begins, so that a restart into a configuration that
    /// exits 78 is refused and this process keeps serving.
    let nextStartProblem: (@Sendable () async -> String?)?
    nonisolated let store: any Store
    nonisolated let writer: StoreWriter
    nonisolated let bus: EventBus
    nonisolated let agent: any Agent
    /// Who runs which session; everything is this process's with one process on the store.
    nonisolated let leases: any SessionLeases
    nonisolated let logger: Logger
    /// Counters, gauges and histograms of what this gateway does, for `GET /metrics`.
    public nonisolated let metrics: GatewayMetrics
    /// When this process's gateway was made; chat commands sent before it are already served.
    public nonisolated let startedAt = Date()
    /// The chat network adapters' statuses, reported in ``status()``.
    public nonisolated let networks: ChatNetworkBoard

    var lifecycle = LifecycleState.starting
    private nonisolated let drainBegun = Atomic<Bool>(false)
    var scheduler: TurnScheduler
    var drain = DrainStateMachine()
    var drainDeadline: Date?
    var agentHealth: AgentHealthTracker
    /// Messages this process still has to run, by id.
    var messages: [String: Message] = [:]
    /// Messages whose commit is under way, by id, with the requests for the same id (a
    /// client's retry) that wait to learn whether it is on disk.
    var commitsUnderWay: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// Turns in flight, by message id.
    var turns: [String: RunningTurn] = [:]
    /// No per-session event counters: the store assigns event ids as it commits, so
    /// memory holds the sessions with work only (``scheduler``), never the history.
    /// When the turn timer fires, while one is set: one timer serves every turn.
    var turnTimer: ContinuousClock.Instant?
    var nextSequence: Int64
    /// SIGTERM/SIGINT seen so far; the second one interrupts at once.
    var terminationSignals = 0
    /// Interrupted turns picked up from the previous process.
    public internal(set) var recoveredTurns = 0
    /// Why the drain ended; nil until it has.
    public internal(set) var exitReason: DrainReason?

    /// Whether a drain has begun (it never ends in this process), readable from any
    /// thread without waiting for the actor: from then on the HTTP API closes each
    /// connection after its response (``APIMiddleware``).
    public nonisolated var isDraining: Bool { drainBegun.load(ordering: .relaxed) }

    /// Marks the drain begun for ``isDraining``.
    func markDrainBegun() { drainBegun.store(true, ordering: .relaxed) }
    /// Turns the scheduler granted while recovering, started when ``run()`` begins.
    private var recoveredStarts: [TurnScheduler.Start] = []
    /// Pending messages per session found at start.
    private var recoveredSessions: [String: Int] = [:]
    /// Messages whose turn an earlier process began: their next run is a re-run.
    var reruns: Set<String> = []
    /// Messages whose answering notice is being written (``notify(session:kind:text:message:alsoWriting:)``):
    /// the same message again meanwhile gets none of its own.
    var answering: Set<String> = []
    /// Sessions whose leases this process holds, with the generation each was taken under
    /// (shared store only).
    var held: [String: Int64] = [:]
    /// The sequence number of the last message loaded per held session.
    var loadedThrough: [String: Int64] = [:]
    /// Sessions being let go: a renewal that finds their row still this process's (the
    /// release not yet committed) leaves them be.
    var releasing: Set<String> = []
    /// Sessions a renewal found this process holds in the store but does not run: taken
    /// again at the next tending of sessions, not inside the renewal (a take may wait).
    var untakenLeases: Set<String> = []
    /// The cluster as last read, for ``status()`` (shared store only).
    var cluster: ClusterStatus?
    /// Whether the store answered last time it was asked; readiness follows it.
    var storeIsReachable = true

    private let jobs: AsyncStream<Job>
    let jobQueue: AsyncStream<Job>.Continuation
    private var statusListeners: [UUID: AsyncStream<GatewayStatus>.Continuation] = [:]
    private var coalescedStatusListeners: [UUID: AsyncStream<GatewayStatus>.Continuation] = [:]
    /// The lifecycle state the coalesced status feeds last heard of.
    private var coalescedLifecycle = LifecycleState.starting
    /// A ``Job/publishStatus`` waits in the job queue.
    private var coalescedStatusQueued = false

    enum Job: Sendable {
        case deadline(ContinuousClock.Instant)
        /// The oldest running turn reaches `agent.turn_timeout` then.
        case turnTimeouts(ContinuousClock.Instant)
        /// Let go of held sessions without a running turn (shared store, draining).
        case releaseIdle
        /// The drain is over: flush the store, say goodbye, stop taking jobs.
        case finish(DrainReason)
        /// The coalesced status feeds get the changes made since they last heard.
        case publishStatus
    }

    struct RunningTurn {
        var session: String
        /// When the turn started, for its timeout and the agent's health.
        var startedAt: ContinuousClock.Instant
        /// The task running the turn: cancelled to stop it.
        var task: Task<Void, Never>?
        /// Why the turn is being stopped (an interrupt, the timeout), once it is.
        var stop: TurnOutcome?
        /// Replies the agent gave in this run.
        var replies = 0
        /// The agent replied once the turn was being stopped: that reply was not stored,
        /// so the turn ends as its stop says (run again, or a notice), not as answered.
        var repliedAfterStop = false

        /// Whether it is being stopped because its session's lease ran out.
        var stopsForLostLease: Bool {
            if case .interrupted(.leaseLost) = stop { true } else { false }
        }
    }

    /// Why a running turn is being cut short.
    enum InterruptCause: Sendable {
        /// A drain: the next process runs it again.
        case drain
        /// A newer message in the session (`busy_input: interrupt`).
        case superseded
        /// The agent's health probes failed past the threshold: the turn fails now.
        case agentUnreachable
        /// The session's lease ran out: whoever takes the session runs it again.
        case leaseLost
    }

    /// Builds the gateway over an open store and picks up what the last process left
    /// (`recovery`, read from the store before: a shared store leaves it empty, its
    /// sessions are taken under leases once running).
    ///
    /// Its metrics are made through `metricsFactory` (none by default).
    public init(
        configuration: Configuration,
        store: any Store,
        recovery: StoreRecovery,
        writer: StoreWriter,
        bus: EventBus,
        agent: any Agent,
        leases: any SessionLeases = SingleProcessLeases(),
        supervisor: String?,
        logger: Logger,
        metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance,
        networks: ChatNetworkBoard = ChatNetworkBoard(),
        instance: String = Gateway.makeInstanceID(),
        nextStartProblem: (@Sendable () async -> String?)? = nil
    ) {
        self.instance = instance
        self.nextStartProblem = nextStartProblem
        self.networks = networks
        self.configuration = configuration
        self.store = store
        self.writer = writer
        self.bus = bus
        self.agent = agent
        self.leases = leases
        self.supervisor = supervisor
        var logger = logger
        logger[metadataKey: "baton.instance"] = "\(instance)"
        self.logger = logger
        self.metrics = GatewayMetrics(factory: metricsFactory)
        self.agentHealth = AgentHealthTracker(
            initial: agent.kind == .demo ? .ready : .starting, failureThreshold: configuration.agent.healthFailureThreshold)
        self.nextSequence = recovery.lastSequence + 1
        (jobs, jobQueue) = AsyncStream.makeStream(of: Job.self)

        // Pick up what the last process left: interrupted and crashed turns first (they
        // were accepted first), then queued messages, each session in acceptance order.
        var scheduler = TurnScheduler(maxConcurrentTurns: configuration.agent.maxConcurrentTurns)
        for message in recovery.pending {
            messages[message.id] = message
            recoveredSessions[message.session, default: 0] += 1
            if message.state != .queued {
                recoveredTurns += 1
                reruns.insert(message.id)
            }
            recoveredStarts += scheduler.enqueue(message.id, session: message.session, durable: true)
        }
        self.scheduler = scheduler
    }

    /// A short random id, new for every process.
    public static func makeInstanceID() -> String {
        String(UUID().uuidString.lowercased().prefix(8))
    }

    /// How long the drain's end waits for a store that refuses commits to take the turns'
    /// last writes (a lock held elsewhere, a full disk), before the process exits anyway.
    static let finishPatience: Duration = .seconds(30)

    /// Waits until everything written so far is committed, trying again while the store
    /// refuses, for at most ``finishPatience``.
    private func commitEverythingWritten() async {
        var backoff = RetryBackoff(initial: .milliseconds(100), maximum: .seconds(2))
        let giveUpAt = ContinuousClock.now + Self.finishPatience
        while true {
            do {
                try await writer.write([])
                return
            } catch {
                guard ContinuousClock.now < giveUpAt, !(error is StoreWriter.ClosedError) else {
                    logger.error(
                        "The store did not take the turns' last writes before the exit; the next process runs those turns again",
                        metadata: ["baton.error": "\(error)"])
                    return
                }
                try? await Task.sleep(for: backoff.failed())
            }
        }
    }

    /// Runs turns until a drain finishes.
    public func run() async throws {
        announceRecovery()
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                switch job {
                case .deadline(let deadline):
                    group.addTask {
                        try? await Task.sleep(until: deadline)
                        if !Task.isCancelled { await self.drainDeadlinePassed() }
                    }
                case .turnTimeouts(let deadline):
                    group.addTask {
                        try? await Task.sleep(until: deadline)
                        if !Task.isCancelled { await self.turnTimeoutsPassed() }
                    }
                case .releaseIdle:
                    // In line, not a child task: the drain's end must not cancel a release
                    // half done (no turn starts while draining, so nothing waits on it).
                    await releaseIdleSessions()
                case .finish(let reason):
                    // Every turn's end is committed before the process may exit (the next
                    // would run a finished turn again), and streams must see every event
                    // written so far before their goodbye.
                    await commitEverythingWritten()
                    await releaseAllSessions()
                    // A stop that came meanwhile changed why the process exits.
                    bus.close(with: Goodbye(reason: exitReason ?? reason, instance: instance))
                    jobQueue.finish()
                case .publishStatus:
                    sendCoalescedStatus()
                }
            }
            group.cancelAll()
        }
        // Cancelled before a drain finished: no turn starts any more (an ending one would
        // start the next), and the turns still running stop, and end (each writes why)
        // before this returns. What waits is the next start's.
        scheduler.startDraining()
        let running = turns.values.compactMap(\.task)
        for task in running { task.cancel() }
        for task in running { await task.value }
        logger.info("Gateway finished", metadata: ["baton.reason": "\(exitReason?.rawValue ?? "cancelled")"])
    }

    /// The listener accepts connections: the gateway is ready unless already draining.
    public func listenerStarted() {
        guard lifecycle == .starting else { return }
        lifecycle = .ready
        logger.info("Ready", metadata: ["baton.pending": "\(scheduler.waitingCount + scheduler.runningCount)"])
        publishStatus()
    }

    /// Answers when the actor is responsive; the systemd watchdog is fed only then.
    public func heartbeat() -> Bool { true }

    // MARK: Status

    public func status() -> GatewayStatus {
        let now = Date()
        return GatewayStatus(
            instance: instance,
            pid: ProcessInfo.processInfo.processIdentifier,
            version: Baton.version,
            state: lifecycle,
            startedAt: startedAt,
            inFlight: scheduler.runningCount,
            queued: scheduler.waitingCount,
            sessions: scheduler.sessionCount,
            drain: drain.reason.map { reason in
                GatewayStatus.Drain(
                    reason: reason,
                    deadline: drainDeadline ?? now,
                    inFlight: scheduler.runningCount,
                    secondsLeft: max(0, (drainDeadline ?? now).timeIntervalSince(now)))
            },
            agent: .init(kind: agent.kind.rawValue, health: agentHealth.health),
            supervisor: supervisor,
            networks: networks.snapshot.nilIfEmpty,
            storeReachable: leases.isShared ? storeIsReachable : nil,
            cluster: cluster
        )
    }

    /// Whether the session has a turn running or messages waiting here.
    public func hasWork(in session: String) -> Bool {
        scheduler.view(of: session).hasWork
    }

    /// The session as this process sees it: its last event id the store's (committed
    /// events only), its state and queue this process's.
    public func sessionStatus(_ session: String) async -> SessionStatus {
        let lastEventID = (try? await store.lastEventID(session: session)) ?? 0
        return SessionStatus(
            session: session,
            state: scheduler.isBusy(session) ? .busy : .idle,
            queued: scheduler.waitingCount(of: session),
            lastEventID: lastEventID)
    }

    /// How a status feed follows the changes.
    public enum StatusDelivery: Sendable {
        /// A snapshot on every change (`GET /v1/status/events`).
        case everyChange
        /// A snapshot once the gateway gets to it, for the changes made meanwhile (under
        /// load, three a message), and at once when the lifecycle state changes: for
        /// readers that want the newest state only (systemd's notifier, the agent monitor).
        case coalesced
    }

    /// A feed of status snapshots, the current one first; the newest wins if the reader lags.
    public func statusUpdates(_ delivery: StatusDelivery = .everyChange) -> AsyncStream<GatewayStatus> {
        let (stream, continuation) = AsyncStream.makeStream(of: GatewayStatus.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        switch delivery {
        case .everyChange: statusListeners[id] = continuation
        case .coalesced: coalescedStatusListeners[id] = continuation
        }
        continuation.yield(status())
        continuation.onTermination = { _ in Task { await self.removeStatusListener(id) } }
        if lifecycle == .stopping { continuation.finish() }
        return stream
    }

    private func removeStatusListener(_ id: UUID) {
        statusListeners[id] = nil
        coalescedStatusListeners[id] = nil
    }

    /// Changes a chat network's status; status listeners (and so systemd) hear of it.
    public func updateNetwork(_ name: String, _ change: @Sendable (inout ChatNetworkStatus) -> Void) {
        if networks.update(name, change) { publishStatus() }
    }

    /// Updates the gauges and tells the status feeds of a change.
    func publishStatus() {
        metrics.observe(inFlight: scheduler.runningCount, queued: scheduler.waitingCount, health: agentHealth.health)
        if !statusListeners.isEmpty {
            let snapshot = status()
            for listener in statusListeners.values { listener.yield(snapshot) }
        }
        if !coalescedStatusListeners.isEmpty {
            if lifecycle != coalescedLifecycle {
                sendCoalescedStatus()
            } else if !coalescedStatusQueued {
                coalescedStatusQueued = true
                // Once the run loop is over, nothing reads the queue.
                if case .terminated = jobQueue.yield(.publishStatus) { sendCoalescedStatus() }
            }
        }
        if lifecycle == .stopping { finishStatusFeeds() }
    }

    /// Sends the coalesced feeds the status as it is now.
    private func sendCoalescedStatus() {
        coalescedStatusQueued = false
        coalescedLifecycle = lifecycle
        guard !coalescedStatusListeners.isEmpty else { return }
        let snapshot = status()
        for listener in coalescedStatusListeners.values { listener.yield(snapshot) }
    }

    /// The process is stopping: every feed has had its last snapshot.
    private func finishStatusFeeds() {
        for listener in statusListeners.values { listener.finish() }
        for listener in coalescedStatusListeners.values { listener.finish() }
        statusListeners = [:]
        coalescedStatusListeners = [:]
    }

    // MARK: Events

    /// A store write appending a notice to `session`; the store gives it its id as it
    /// commits it (writes commit in the order they are queued, so ids follow that order).
    func notice(_ session: String, _ kind: NoticeKind, _ text: String, message: String? = nil, position: Int? = nil) -> StoreWrite {
        let payload = NoticePayload(kind: kind, text: text, message: message, position: position, instance: instance)
        return .appendEvent(SessionEvent(session: session, id: 0, kind: .notice, data: payload.json))
    }

    // MARK: Recovery

    /// Tells each session with pending messages that they will be answered now, and
    /// starts their turns.
    private func announceRecovery() {
        guard !recoveredSessions.isEmpty else { return }
        guard drain.isServing else { return leaveRecoveredTurns() }
        metrics.recovered(messages: recoveredSessions.values.reduce(0, +), interruptedTurns: recoveredTurns)
        var writes: [StoreWrite] = []
        for (session, count) in recoveredSessions.sorted(by: { $0.key < $1.key }) {
            let noun = count == 1 ? "message" : "messages"
            writes.append(notice(session, .restarted, "Baton restarted; \(count) pending \(noun) will be answered now.", position: count))
        }
        writer.enqueue(writes)
        logger.info(
            "Recovered pending messages",
            metadata: [
                "baton.pending": "\(messages.count)", "baton.interrupted": "\(recoveredTurns)",
                "baton.sessions": "\(recoveredSessions.count)",
            ])
        recoveredSessions = [:]
        startTurns(recoveredStarts)
        recoveredStarts = []
    }

    /// A drain was asked for before the gateway ran (a signal during a long start): the
    /// turns recovered are not started, and stay as the store has them, for the process
    /// after. The drain then waits for nothing of theirs.
    private func leaveRecoveredTurns() {
        logger.info(
            "Draining before any turn started: the pending messages are left for the next process",
            metadata: ["baton.pending": "\(messages.count)"])
        for start in recoveredStarts {
            messages[start.message] = nil
            _ = scheduler.turnEnded(session: start.session)
        }
        recoveredSessions = [:]
        recoveredStarts = []
        perform(drain.inFlightChanged(to: scheduler.runningCount))
    }
}

/// The JSON of a `notice` event.
struct NoticePayload: Encodable {
    var kind: NoticeKind
    var text: String
    var message: String?
    var position: Int?
    var instance: String
}

extension NoticeKind: Encodable {}

/// The JSON of a `reply` event.
struct ReplyPayload: Encodable {
    var id: String
    var inReplyTo: String
    var text: String

    enum CodingKeys: String, CodingKey {
        case id
        case inReplyTo = "in_reply_to"
        case text
    }
}

extension Dictionary {
    fileprivate var nilIfEmpty: Self? { isEmpty ? nil : self }
}

/// Facts about the build.
public enum Baton {
    public static let version = "0.1.0"
}
