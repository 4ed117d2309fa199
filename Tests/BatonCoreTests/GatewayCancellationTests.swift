@testable import BatonCore
import BatonTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// The gateway's run cancelled (another service failed and the service group cancels
/// everything): what runs stops, and nothing new starts.
@Suite("Gateway run cancelled")
struct GatewayCancellationTests {
    @Test("Cancelled with a turn running and one waiting: the running one stops, the waiting one never starts")
    func aCancelledRunStartsNoTurn() async throws {
        let agent = CountingAgent()
        let harness = try GatewayHarness(store: { $0 }, agent: agent)
        defer { harness.removeDirectory() }
        let (sqlite, writer, gateway) = (harness.sqlite, harness.writer, harness.gateway)
        let writing = Task { try await writer.run() }
        let running = Task { try await gateway.run() }
        await gateway.listenerStarted()
        for id in ["first", "second"] {
            _ = try await gateway.accept(IncomingMessage(id: id, session: "s", user: "u", text: id))
        }
        try await withTimeout(.seconds(10), waitingFor: "the first turn to start") { await agent.waitForStart() }

        running.cancel()
        try await running.value
        #expect(agent.started == ["first"], "a turn started after the run was cancelled")
        #expect(await gateway.turns.isEmpty)
        writing.cancel()
        _ = try? await writing.value
        #expect(try sqlite.pendingMessages().map(\.id) == ["first", "second"], "both left for the next start")
    }
}

/// A drain asked for before the gateway runs (a signal while a long upgrade of the store
/// delays the start): the turns the last process left are not started.
@Suite("Drain before the gateway runs")
struct DrainBeforeRunTests {
    @Test("A drain asked for before the run: the recovered turn does not start, stays pending, and the drain ends at once")
    func recoveredTurnsDoNotStartInADrain() async throws {
        let first = try GatewayHarness(store: { $0 }, agent: CountingAgent())
        defer { first.removeDirectory() }
        let writing = Task { try await first.writer.run() }
        let running = Task { try await first.gateway.run() }
        await first.gateway.listenerStarted()
        _ = try await first.gateway.accept(IncomingMessage(id: "m1", session: "s", user: "u", text: "left running"))
        _ = try await first.gateway.accept(IncomingMessage(id: "m2", session: "s", user: "u", text: "left queued"))
        running.cancel()
        try await running.value
        writing.cancel()
        _ = try? await writing.value

        let agent = CountingAgent()
        let next = try GatewayHarness(store: { $0 }, agent: agent, directory: first.directory) { $0.drain.timeout = 3600 }
        try await next.gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal)
        let nextWriting = Task { try await next.writer.run() }
        try await withTimeout(.seconds(30), waitingFor: "the drain to end without running a turn") { try await next.gateway.run() }
        try await next.writer.write([])
        #expect(agent.started.isEmpty, "a recovered turn started in the drain")
        #expect(try next.sqlite.pendingMessages().map(\.id) == ["m1", "m2"], "both left for the process after")
        nextWriting.cancel()
        _ = try? await nextWriting.value
    }
}

/// A turn stopped just as its agent finishes: the agent's last reply reaches the gateway
/// after the stop, and is not stored.
@Suite("A reply that comes after the stop")
struct ReplyAfterStopTests {
    @Test("The agent answers just after /restart now stopped its turn: the message is run again by the next process, not marked answered without its reply")
    func aReplyAfterTheStopIsNotLost() async throws {
        let agent = LateReplyAgent()
        let harness = try GatewayHarness(store: { $0 }, agent: agent) { $0.drain.interruptGrace = 30 }
        defer { harness.removeDirectory() }
        let (writing, running) = try await harness.runningTurn(of: agent)

        _ = try await harness.gateway.requestDrain(.restart, immediate: true, origin: .reloadSignal)
        agent.finish()
        try await withTimeout(.seconds(30), waitingFor: "the drain to end") { try await running.value }
        try await harness.writer.write([])
        let pending = try harness.sqlite.pendingMessages()
        #expect(pending.map(\.id) == ["m1"], "the message is left for the next process")
        #expect(pending.first?.state == .interrupted)
        #expect(pending.first?.replies == 0)
        writing.cancel()
        _ = try? await writing.value
    }
}

/// The store refuses commits while a drain ends: the drain waits for it to take the turns'
/// last writes rather than let the process exit with them unwritten.
@Suite("A drain's end while the store refuses commits")
struct DrainEndWhileStoreRefusesTests {
    @Test("A turn that ends while the store refuses commits: the drain ends only once its reply and its end are on disk")
    func theDrainWaitsForTheLastWrites() async throws {
        let agent = LateReplyAgent()
        let harness = try GatewayHarness(store: { RefusingCommitsStore(base: $0) }, agent: agent)
        defer { harness.removeDirectory() }
        let (writing, running) = try await harness.runningTurn(of: agent)

        harness.store.refusing.withLock { $0 = true }
        _ = try await harness.gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal)
        agent.finish()
        // Taken back once the drain has had time to end (without the fix it ends at once).
        let lifting = Task {
            try await Task.sleep(for: .milliseconds(1500))
            harness.store.refusing.withLock { $0 = false }
        }
        try await withTimeout(.seconds(30), waitingFor: "the drain to end") { try await running.value }
        #expect(try harness.sqlite.message(id: "m1")?.state == .done, "the turn's end is on disk when the drain ends")
        #expect(try harness.sqlite.message(id: "m1")?.replies == 1)
        try await lifting.value
        writing.cancel()
        _ = try? await writing.value
    }
}

/// Forwards to SQLite, but fails every commit while ``refusing``.
final class RefusingCommitsStore: ForwardingStore {
    struct Refused: Error {}
    let base: SQLiteStore
    let refusing = Mutex(false)

    init(base: SQLiteStore) { self.base = base }

    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        if refusing.withLock({ $0 }) { throw Refused() }
        return try await base.commit(groups)
    }
}

extension GatewayHarness {
    /// Runs the writer and the gateway, takes message `m1` of session `s`, and returns once
    /// `agent` has begun its turn.
    func runningTurn(of agent: LateReplyAgent) async throws -> (writing: Task<Void, any Error>, running: Task<Void, any Error>) {
        let writing = Task { try await writer.run() }
        let running = Task { try await gateway.run() }
        await gateway.listenerStarted()
        _ = try await gateway.accept(IncomingMessage(id: "m1", session: "s", user: "u", text: "question"))
        try await withTimeout(.seconds(10), waitingFor: "the turn to start") { await agent.waitForStart() }
        return (writing, running)
    }
}

/// An agent that waits, through a cancellation, until told to finish, then replies and
/// returns as if it had not been stopped (a reply already on its way when the stop came).
final class LateReplyAgent: Agent {
    private let (startSignals, startSignal) = AsyncStream.makeStream(of: Void.self)
    private let (finishSignals, finishSignal) = AsyncStream.makeStream(of: Void.self)

    var kind: AgentConfiguration.Kind { .http }

    func waitForStart() async {
        for await _ in startSignals { return }
    }

    func finish() { finishSignal.yield() }

    nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
        startSignal.yield()
        // Not cancelled with the turn: an unstructured task's stream.
        let finished = Task { for await _ in finishSignals { return } }
        await finished.value
        try await reply("the answer")
    }
}

/// An agent whose turns run until cancelled, and that records which started.
final class CountingAgent: Agent {
    private let starts = Mutex<[String]>([])
    private let (startSignals, startSignal) = AsyncStream.makeStream(of: Void.self)

    var kind: AgentConfiguration.Kind { .exec }
    var started: [String] { starts.withLock { $0 } }

    func waitForStart() async {
        for await _ in startSignals { return }
    }

    nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
        starts.withLock { $0.append(turn.id) }
        startSignal.yield()
        try await Task.sleep(for: .seconds(3600))
    }
}
