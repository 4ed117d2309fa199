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
