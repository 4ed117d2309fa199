import BatonApp
import BatonCore
import BatonTestSupport
import Testing

/// The coalesced status feed (systemd's notifier, the agent monitor): the newest state
/// after each burst of changes, and every change of the lifecycle state, until it ends.
@Suite struct StatusFeedTests {
    @Test func aCoalescedFeedShowsTheNewestStateAndTheDrainAndThenEnds() async throws {
        let agent = GatedAgent()
        let exit = try await InProcessBaton().run(agent: agent) { app, client in
            let seen = ObservedState<(statuses: [GatewayStatus], ended: Bool)>(([], false))
            let feed = await app.gateway.statusUpdates(.coalesced)
            let reader = Task {
                for await status in feed { seen.update { $0.statuses.append(status) } }
                seen.update { $0.ended = true }
            }
            defer { reader.cancel() }
            func waitFor(_ what: String, _ condition: @escaping @Sendable (GatewayStatus) -> Bool) async throws {
                try await withTimeout(.seconds(30), waitingFor: what) {
                    try await seen.wait { $0.statuses.last.map(condition) == true ? () : nil }
                }
            }

            for session in ["a", "b", "c"] { _ = try await client.send(session: session, text: "held") }
            try await waitFor("three turns in flight") { $0.inFlight == 3 }
            agent.releaseAll()
            try await waitFor("every turn over") { $0.inFlight == 0 && $0.queued == 0 }

            try await app.gateway.requestDrain(.stop, immediate: false, origin: .control)
            try await withTimeout(.seconds(30), waitingFor: "the feed's end") { try await seen.wait { $0.ended ? () : nil } }
            let states = seen.value.statuses.map(\.state)
            #expect(states.first == .ready)
            #expect(states.last == .stopping, "\(states)")
            #expect(states.drop(while: { $0 == .ready }).allSatisfy { $0 != .ready }, "no ready after the drain began: \(states)")
        }
        #expect(exit == .stopped)
    }
}
