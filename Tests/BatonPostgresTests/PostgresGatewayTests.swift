@testable import BatonCore
@testable import BatonPostgres
import BatonTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// A gateway in-process on PostgreSQL: how it keeps the sessions it runs in step with the
/// leases the store says it holds, and what it stores of an agent's reply.
@Suite("Gateway on PostgreSQL", .serialized, .enabled(if: PostgresTestServer.isAvailable, "needs scripts/postgres.sh up"))
struct PostgresGatewayTests {
    @Test("A lease the store says is this process's, for a session it does not run, is taken at the next beat and its message answered")
    func aLeaseHeldButNotRunIsTaken() async throws {
        try await withGateway { gateway, store, leases, _ in
            // The first take goes through in the store, but the gateway does not learn of
            // it: how a take that lost a race with a renewal ends.
            leases.hideNextGrant()
            let answer = try await gateway.accept(IncomingMessage(id: "m1", session: "lost", user: "u", text: "hello"))
            guard case .acknowledged = answer else {
                Issue.record("not stored: \(answer)")
                return
            }
            #expect(try await store.pendingMessages(session: "lost").map(\.id) == ["m1"], "stored, and not run")
            await gateway.leaseBeat()
            #expect(try await Self.replies(in: "lost", of: store) == ["m1"])
        }
    }

    @Test("A session whose lease a peer took stops here: its turn is interrupted, the message behind it not started, both left pending")
    func aSessionWhoseLeaseRunsOutStopsHere() async throws {
        let agent = WaitingAgent()
        try await withGateway(agent: agent) { gateway, store, leases, _ in
            for (id, text) in [("m1", "one"), ("m2", "two")] {
                _ = try await gateway.accept(IncomingMessage(id: id, session: "s", user: "u", text: text))
            }
            #expect(await agent.next() == "started m1")
            leases.runOut("s")
            await gateway.leaseBeat()
            #expect(try await withTimeout(.seconds(10), waitingFor: "the turn to be interrupted") { await agent.next() } == "cancelled m1")
            let status = try await withTimeout(.seconds(10), waitingFor: "no turn in flight") {
                while await gateway.status().inFlight > 0 { try await Task.sleep(for: .milliseconds(10)) }
                return await gateway.status()
            }
            #expect(status.queued == 0, "m2 waits in the store, not here")
            #expect(agent.started == ["m1"])
            #expect(try await store.pendingMessages(session: "s").map(\.id) == ["m1", "m2"], "left for whoever takes the session")
        }
    }

    @Test("busy_input: reject refuses a message for a session a peer is running")
    func rejectRefusesInputForASessionAPeerRuns() async throws {
        let agent = WaitingAgent()
        try await withGateways([agent, DemoAgent(delay: .zero)], busyInput: .reject) { peers, _ in
            let (runner, other) = (peers[0].gateway, peers[1].gateway)
            _ = try await runner.accept(IncomingMessage(id: "m1", session: "s", user: "u", text: "one"))
            #expect(await agent.next() == "started m1")
            let answer = try await other.accept(IncomingMessage(id: "m2", session: "s", user: "u", text: "two"))
            #expect(answer == .rejected(.busy))
            #expect(try await peers[1].store.pendingMessages(session: "s").map(\.id) == ["m1"], "nothing stored for m2")
            // An idle session is taken as ever.
            #expect(try await other.accept(IncomingMessage(id: "m3", session: "idle", user: "u", text: "three")).isAcknowledged)
        }
    }

    @Test("busy_input: interrupt ends a turn when a peer stores the next message of its session")
    func interruptEndsATurnWhenAPeerStoresTheNextMessage() async throws {
        let agent = WaitingAgent()
        try await withGateways([agent, DemoAgent(delay: .zero)], busyInput: .interrupt) { peers, _ in
            let (runner, other) = (peers[0].gateway, peers[1].gateway)
            _ = try await runner.accept(IncomingMessage(id: "m1", session: "s", user: "u", text: "one"))
            #expect(await agent.next() == "started m1")
            #expect(try await other.accept(IncomingMessage(id: "m2", session: "s", user: "u", text: "two")).isAcknowledged)
            // What the cluster listener does when it hears of the peer's commit.
            await runner.takeSession("s")
            #expect(try await withTimeout(.seconds(10), waitingFor: "m1's turn to be interrupted") { await agent.next() } == "cancelled m1")
            #expect(try await withTimeout(.seconds(10), waitingFor: "m2's turn") { await agent.next() } == "started m2")
        }
    }

    @Test("A lease that ran out but that no peer took is renewed at the next beat: its turn runs on, the message behind it waits here")
    func aLeaseThatRanOutUntakenKeepsItsSession() async throws {
        let agent = WaitingAgent()
        try await withGateway(agent: agent) { gateway, store, _, client in
            for (id, text) in [("m1", "one"), ("m2", "two")] {
                _ = try await gateway.accept(IncomingMessage(id: id, session: "s", user: "u", text: text))
            }
            #expect(await agent.next() == "started m1")
            let generation = try #require(await gateway.held["s"])
            // A renewal came late (the database stalled): the lease ran out by the
            // database's clock, and no peer took it.
            try await client.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE session = 's'")
            await gateway.leaseBeat()
            #expect(await gateway.held["s"] == generation, "still this process's")
            #expect(await gateway.turns["m1"]?.stop == nil, "m1 not interrupted")
            #expect(await gateway.status().queued == 1, "m2 still waits here")
            var stillValid = false
            for try await valid in try await client.query("SELECT expires_at > now() FROM leases WHERE session = 's'").decode(Bool.self) {
                stillValid = valid
            }
            #expect(stillValid, "renewed")
            #expect(agent.started == ["m1"])
            #expect(try await store.pendingMessages(session: "s").map(\.id) == ["m1", "m2"])
        }
    }

    @Test("A lease a peer took, with the turn still winding down, is taken again only once it ended: that message runs again first")
    func aSessionIsTakenAgainOnlyOnceItsCutOffTurnEnded() async throws {
        let agent = WaitingAgent(stopsWhenLetGo: true)
        try await withGateway(agent: agent) { gateway, store, _, client in
            for (id, text) in [("m1", "one"), ("m2", "two")] {
                _ = try await gateway.accept(IncomingMessage(id: id, session: "s", user: "u", text: text))
            }
            #expect(await agent.next() == "started m1")
            // The lease runs out (the database's clock says so) and a peer takes it; the
            // beat finds it gone and stops the turn, which takes a while to end.
            try await client.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE session = 's'")
            let peer = PostgresLeases(client: client, instance: "peer", lease: 30, listen: "test", logger: Logger(label: "test"))
            let taken = try #require(try await peer.acquire("s"))
            await gateway.leaseBeat()
            #expect(try await withTimeout(.seconds(10), waitingFor: "the turn to be told to stop") { await agent.next() } == "cancelled m1")
            // The peer lets it go again (it began draining), and meanwhile a commit for the
            // session is heard of, as the cluster listener tells: no take while the
            // cut-off turn ends.
            try await peer.release("s", generation: taken.generation)
            await gateway.takeSession("s")
            #expect(await gateway.held["s"] == nil, "not taken while the cut-off turn ends")
            agent.letStop()
            _ = try await eventually("the cut-off turn to end", timeout: .seconds(10)) { await gateway.turns.isEmpty ? true : nil }
            // Once it ended the session is taken again (at the latest at the next beat):
            // m1 runs again before m2.
            await gateway.leaseBeat()
            #expect(try await withTimeout(.seconds(10), waitingFor: "the next turn") { await agent.next() } == "started m1")
            #expect(agent.started == ["m1", "m1"])
            #expect(try await store.pendingMessages(session: "s").map(\.id) == ["m1", "m2"])
        }
    }

    /// An agent whose turns run until cancelled, and that tells which started and which
    /// were cancelled.
    final class WaitingAgent: Agent {
        private let turns: AsyncStream<String>
        private let turnsContinuation: AsyncStream<String>.Continuation
        private let startedTurns = Mutex<[String]>([])
        /// Whether a cancelled turn ends only once ``letStop()`` is called.
        private let stopsWhenLetGo: Bool
        /// The cancelled turn waiting to end, or whether it may end already.
        private let stopGate = Mutex<(waiting: CheckedContinuation<Void, Never>?, open: Bool)>((nil, false))

        init(stopsWhenLetGo: Bool = false) {
            (turns, turnsContinuation) = AsyncStream.makeStream(of: String.self)
            self.stopsWhenLetGo = stopsWhenLetGo
        }

        /// Lets the cancelled turn end.
        func letStop() {
            let waiting = stopGate.withLock { gate in
                gate.open = true
                defer { gate.waiting = nil }
                return gate.waiting
            }
            waiting?.resume()
        }

        /// Returns once ``letStop()`` was called, cancelled or not.
        private func waitUntilLetStop() async {
            await withCheckedContinuation { continuation in
                let open = stopGate.withLock { gate in
                    if !gate.open { gate.waiting = continuation }
                    return gate.open
                }
                if open { continuation.resume() }
            }
        }

        /// What happened next: "started" or "cancelled", and the message.
        func next() async -> String? {
            for await turn in turns { return turn }
            return nil
        }

        /// The messages whose turns started, in order.
        var started: [String] { startedTurns.withLock { $0 } }

        var kind: AgentConfiguration.Kind { .exec }

        nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
            startedTurns.withLock { $0.append(turn.id) }
            turnsContinuation.yield("started \(turn.id)")
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                turnsContinuation.yield("cancelled \(turn.id)")
                if stopsWhenLetGo { await waitUntilLetStop() }
                throw error
            }
        }
    }

    @Test("A message whose commit the database does not confirm in time is answered as maybe stored, and to be sent again with its id")
    func aCommitNotConfirmedInTimeIsAnsweredAsMaybeStored() async throws {
        try await withGateway(storeTimeout: .seconds(1)) { gateway, store, _, client in
            _ = try await gateway.accept(IncomingMessage(id: "m0", session: "locked", user: "u", text: "first"))
            // A transaction of the test's holds the session's row, which a commit locks first.
            try await Self.whileSessionRowLocked("locked", client: client) {
                let error = await #expect(throws: GatewayError.self) {
                    try await gateway.accept(IncomingMessage(id: "m1", session: "locked", user: "u", text: "second"))
                }
                #expect(error?.code == .storeUnavailable)
                #expect(
                    error?.description.contains("may have been stored all the same; send it again with the same id") == true,
                    "\(String(describing: error))")
            }
            // Sent again with its id once the database answers: stored once.
            _ = try await gateway.accept(IncomingMessage(id: "m1", session: "locked", user: "u", text: "second"))
            #expect(try await store.message(id: "m1") != nil)
        }
    }

    @Test("A turn's error notice whose commit timed out but landed, sent again by the writer, is stored once")
    func aCommitThatTimedOutButLandedIsNotStoredTwice() async throws {
        let agent = FailsOnCueAgent()
        try await withGateway(agent: agent, storeTimeout: .seconds(1)) { gateway, store, _, client in
            try await Self.startTurn(of: gateway, store: store, agent: agent)
            // A transaction of the test's holds the session's row: the turn's end waits
            // for it, times out, and is sent again and again by the writer.
            try await Self.whileSessionRowLocked("locked", client: client) {
                agent.fail()
                _ = try await eventually("three commits of the turn's end waiting at once", timeout: .seconds(30)) {
                    try await Self.commitsWaitingForALock(client) >= 3 ? true : nil
                }
            }
            // A notice of the test's commits after every commit that waited before it.
            try await gateway.notify(session: "locked", kind: .status, text: "after the lock")
            _ = try await eventually("the turn's end stored", timeout: .seconds(10)) {
                try await store.message(id: "m1")?.state == .failed ? true : nil
            }
            let notices = try await store.events(session: "locked", after: 0, limit: 100).filter { $0.kind == .notice }
            #expect(notices.filter { $0.data.contains("the agent failed on cue") }.count == 1, "\(notices.map(\.data))")
            #expect(notices.filter { $0.data.contains("after the lock") }.count == 1)
        }
    }

    @Test("An idle session whose turn's end cannot be committed yet is not let go: the lease stays this process's until it is")
    func aLeaseIsKeptWhileItsWritesCannotBeCommitted() async throws {
        let agent = FailsOnCueAgent()
        try await withGateway(agent: agent, storeTimeout: .seconds(1)) { gateway, store, _, client in
            try await Self.startTurn(of: gateway, store: store, agent: agent)
            try await Self.whileSessionRowLocked("locked", client: client) {
                agent.fail()
                _ = try await eventually("the turn's end waiting to commit", timeout: .seconds(30)) {
                    try await Self.commitsWaitingForALock(client) >= 1 ? true : nil
                }
                // Idle now, but what its turn wrote is not committed: a peer taking the
                // session would run the turn again.
                await gateway.leaseBeat()
                #expect(try await Self.holder(of: "locked", client: client) == "test")
            }
            _ = try await eventually("the turn's end stored", timeout: .seconds(30)) {
                try await store.message(id: "m1")?.state == .failed ? true : nil
            }
            await gateway.leaseBeat()
            #expect(try await Self.holder(of: "locked", client: client) == nil, "let go once its writes are committed")
        }
    }

    /// Accepts `m1` in the session `locked` and returns once its turn runs on `agent` and
    /// that is stored.
    private static func startTurn(of gateway: Gateway, store: PostgresStore, agent: FailsOnCueAgent) async throws {
        _ = try await gateway.accept(IncomingMessage(id: "m1", session: "locked", user: "u", text: "hello"))
        await agent.started()
        _ = try await eventually("the turn's start stored", timeout: .seconds(10)) {
            try await store.message(id: "m1")?.state == .running ? true : nil
        }
    }

    /// Which process holds `session`'s lease, if any.
    private static func holder(of session: String, client: PostgresClient) async throws -> String? {
        let rows = try await client.query("SELECT holder FROM leases WHERE session = \(session)", logger: Logger(label: "test"))
        for try await holder in rows.decode(String.self) { return holder }
        return nil
    }

    /// Runs `body` while a transaction of the test's holds `session`'s row (which every
    /// commit writing to the session locks first); lets go of it after.
    private static func whileSessionRowLocked(
        _ session: String, client: PostgresClient, _ body: () async throws -> Void
    ) async throws {
        try await whileLocked("SELECT 1 FROM sessions WHERE session = \(session) FOR UPDATE", client: client, body)
    }

    /// Runs `body` while a transaction of the test's holds the rows `lock` (a
    /// `SELECT … FOR UPDATE`) locks; lets go of them after.
    static func whileLocked(_ lock: PostgresQuery, client: PostgresClient, _ body: () async throws -> Void) async throws {
        let (locked, lockTaken) = AsyncStream.makeStream(of: Void.self)
        let (release, releaseLock) = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await client.withTransaction(logger: Logger(label: "test")) { connection in
                try await connection.query(lock, logger: Logger(label: "test"))
                lockTaken.yield()
                for await _ in release { break }
            }
        }
        for await _ in locked { break }
        do {
            try await body()
        } catch {
            releaseLock.yield()
            _ = try? await holder.value
            throw error
        }
        releaseLock.yield()
        try await holder.value
    }

    /// Connections of this database running `baton_commit` that wait for a lock.
    private static func commitsWaitingForALock(_ client: PostgresClient) async throws -> Int64 {
        let rows = try await client.query(
            """
            SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
            AND query LIKE 'SELECT baton_commit%'
            """, logger: Logger(label: "test"))
        for try await count in rows.decode(Int64.self) { return count }
        return 0
    }

    /// An agent whose turns fail when ``fail()`` is called.
    final class FailsOnCueAgent: Agent {
        private let starts: AsyncStream<Void>
        private let startsContinuation: AsyncStream<Void>.Continuation
        private let cue: AsyncStream<Void>
        private let cueContinuation: AsyncStream<Void>.Continuation

        init() {
            (starts, startsContinuation) = AsyncStream.makeStream(of: Void.self)
            (cue, cueContinuation) = AsyncStream.makeStream(of: Void.self)
        }

        /// Returns once a turn started.
        func started() async {
            for await _ in starts { return }
        }

        func fail() {
            cueContinuation.yield()
        }

        var kind: AgentConfiguration.Kind { .exec }

        nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
            startsContinuation.yield()
            for await _ in cue { break }
            throw AgentError(.agentFailed, "the agent failed on cue")
        }
    }

    @Test("An agent's reply with U+0000 in it is stored, with U+FFFD in its place")
    func aReplyWithNULIsStored() async throws {
        try await withGateway(agent: NULAgent()) { gateway, store, _, _ in
            _ = try await gateway.accept(IncomingMessage(id: "m1", session: "nul", user: "u", text: "hello"))
            #expect(try await Self.replies(in: "nul", of: store, field: "text") == ["a\u{FFFD}b"])
        }
    }

    /// An agent that answers every turn with "a", U+0000, "b".
    struct NULAgent: Agent {
        var kind: AgentConfiguration.Kind { .exec }
        nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
            try await reply("a\u{0}b")
        }
    }

    /// A field of each of the session's replies (the message it answers, unless said),
    /// once there is a reply (or after 5 s).
    private static func replies(in session: String, of store: PostgresStore, field: String = "in_reply_to") async throws -> [String] {
        func read() async throws -> [String] {
            try await store.events(session: session, after: 0, limit: 100).filter { $0.kind == .reply }.compactMap { event in
                (try? JSONSerialization.jsonObject(with: Data(event.data.utf8)) as? [String: Any])?[field] as? String
            }
        }
        for _ in 0..<500 {
            let replies = try await read()
            if !replies.isEmpty { return replies }
            try await Task.sleep(for: .milliseconds(10))
        }
        return try await read()
    }

    /// Runs a gateway (the demo agent, no delay, unless given another) and its writer on a
    /// fresh database, with no lease keeper (the test beats), for `body`; then stops it.
    /// `body` gets the database's client too, for the test's own queries.
    func withGateway(
        agent: any Agent = DemoAgent(delay: .zero), storeTimeout: Duration = .seconds(5),
        _ body: @escaping @Sendable (Gateway, PostgresStore, GrantHidingLeases, PostgresClient) async throws -> Void
    ) async throws {
        try await withGateways([agent], storeTimeout: storeTimeout) { peers, client in
            try await body(peers[0].gateway, peers[0].store, peers[0].leases, client)
        }
    }

    /// One process of a cluster, in-process.
    struct Peer: Sendable {
        let gateway: Gateway
        let store: PostgresStore
        let leases: GrantHidingLeases
    }

    /// The gateways' logger: silent unless BATON_TEST_LOG is set, then on standard error.
    static var logger: Logger {
        var logger = Logger(label: "test") { label -> any LogHandler in
            guard ProcessInfo.processInfo.environment["BATON_TEST_LOG"] != nil else { return SwiftLogNoOpLogHandler() }
            return StreamLogHandler.standardError(label: label)
        }
        logger.logLevel = .debug
        return logger
    }

    /// Runs one gateway per agent, as processes `p0`, `p1`, … on one fresh database, under
    /// `busyInput`, for `body`; then stops them. No cluster listener runs: a test tells a
    /// peer of a commit as the listener would (``Gateway/takeSession(_:)``), or starts one.
    func withGateways(
        _ agents: [any Agent], busyInput: BusyInput = .queue, storeTimeout: Duration = .seconds(5),
        _ body: @escaping @Sendable ([Peer], PostgresClient) async throws -> Void
    ) async throws {
        let url = try PostgresURL(try await PostgresTestServer.createDatabase())
        let logger = Self.logger
        try await PostgresSchema.migrate(url, logger: logger)
        let client = PostgresClient(configuration: url.configuration, backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            var peers: [Peer] = []
            var services: [Task<Void, any Error>] = []
            for (index, agent) in agents.enumerated() {
                let instance = agents.count == 1 ? "test" : "p\(index)"
                let store = PostgresStore(client: client, instance: instance, timeout: storeTimeout, logger: logger)
                let leases = GrantHidingLeases(PostgresLeases(client: client, instance: instance, lease: 30, listen: "test", logger: logger))
                let bus = EventBus()
                let writer = StoreWriter(store: store, bus: bus, logger: logger)
                var configuration = Configuration(
                    listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: FileManager.default.temporaryDirectory.path)
                configuration.agent.delay = 0
                configuration.busyInput = busyInput
                let gateway = Gateway(
                    configuration: configuration, store: store, recovery: StoreRecovery(), writer: writer, bus: bus,
                    agent: agent, leases: leases, supervisor: nil, logger: logger, instance: instance)
                services.append(
                    Task {
                        try await withThrowingTaskGroup(of: Void.self) { services in
                            services.addTask { try await writer.run() }
                            try await gateway.run()
                            services.cancelAll()
                        }
                    })
                await gateway.listenerStarted()
                peers.append(Peer(gateway: gateway, store: store, leases: leases))
            }
            let result: Result<Void, any Error>
            do {
                result = .success(try await body(peers, client))
            } catch {
                result = .failure(error)
            }
            for peer in peers { _ = try await peer.gateway.requestDrain(.stop, immediate: true, origin: .control) }
            for service in services { try await service.value }
            group.cancelAll()
            try result.get()
        }
    }
}

/// Leases that go to the store as given, except that the next grant can be kept from the
/// gateway, and a session's lease made to look taken by a peer to its renewals.
final class GrantHidingLeases: SessionLeases {
    private let leases: any SessionLeases
    private let hidesNextGrant = Mutex(false)
    private let runOutSessions = Mutex<Set<String>>([])

    init(_ leases: any SessionLeases) {
        self.leases = leases
    }

    func hideNextGrant() {
        hidesNextGrant.withLock { $0 = true }
    }

    var isShared: Bool { leases.isShared }

    func acquire(_ session: String) async throws -> LeaseGrant? {
        let grant = try await leases.acquire(session)
        return hidesNextGrant.withLock { hides in
            defer { hides = false }
            return hides ? nil : grant
        }
    }

    /// From now on renewals leave `session` out, as when a peer took its lease.
    func runOut(_ session: String) {
        runOutSessions.withLock { _ = $0.insert(session) }
    }

    func renew(state: String, only sessions: Set<String>?) async throws -> Set<String> {
        try await leases.renew(state: state, only: sessions).subtracting(runOutSessions.withLock { $0 })
    }
    func release(_ session: String, generation: Int64) async throws { try await leases.release(session, generation: generation) }
    func unclaimed(limit: Int) async throws -> [String] { try await leases.unclaimed(limit: limit) }
    func cluster() async throws -> ClusterStatus? { try await leases.cluster() }
}
