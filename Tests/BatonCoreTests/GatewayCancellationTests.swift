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
