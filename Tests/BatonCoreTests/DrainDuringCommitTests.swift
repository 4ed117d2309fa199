@testable import BatonCore
import BatonTestSupport
import Foundation
import Logging
import Testing

/// A drain that begins while a message is being stored.
@Suite("Drain during a message's commit")
struct DrainDuringCommitTests {
    @Test("A message whose commit a drain overtook is answered queued, with a draining notice")
    func aMessageOvertakenByADrainIsToldItWaits() async throws {
        let harness = try GatewayHarness(store: FirstCommitHeldStore.init)
        defer { harness.removeDirectory() }
        let (sqlite, store, writer, gateway) = (harness.sqlite, harness.store, harness.writer, harness.gateway)
        let writing = Task { try await writer.run() }
        let running = Task { try await gateway.run() }
        await gateway.listenerStarted()

        let accepting = Task { try await gateway.accept(IncomingMessage(id: "m", session: "s", user: "u", text: "hello")) }
        await store.firstCommitStarted()
        // Nothing runs yet (the message is not on disk): the drain is over at once.
        try await gateway.requestDrain(.stop, immediate: false, origin: .control)
        store.letFirstCommitThrough()
        let answer = try await accepting.value
        guard case .acknowledged(let acknowledgement) = answer else {
            Issue.record("not stored: \(answer)")
            return
        }
        #expect(acknowledgement.status == .queued, "it waits for the next start")
        try await running.value
        try await writer.write([])
        let events = try sqlite.events(session: "s", after: 0)
        #expect(events.contains { $0.kind == .notice && $0.data.contains(#""kind":"draining""#) && $0.data.contains(#""message":"m""#) }, "\(events)")
        #expect(try sqlite.pendingMessages().map(\.id) == ["m"])
        writing.cancel()
        _ = try? await writing.value
    }

    @Test("busy_input: interrupt — a message whose commit a drain overtook leaves the session's running turn be")
    func aMessageOvertakenByADrainDoesNotInterrupt() async throws {
        let second: @Sendable ([[StoreWrite]]) -> Bool = { groups in
            groups.joined().contains { if case .insertMessage(let message) = $0 { message.id == "m2" } else { false } }
        }
        let harness = try GatewayHarness(
            store: { FirstCommitHeldStore($0, holding: second) }, agent: DemoAgent(delay: .seconds(3600)),
            configure: { $0.busyInput = .interrupt })
        defer { harness.removeDirectory() }
        let (sqlite, store, writer, gateway) = (harness.sqlite, harness.store, harness.writer, harness.gateway)
        let writing = Task { try await writer.run() }
        let running = Task { try await gateway.run() }
        await gateway.listenerStarted()

        #expect(try await gateway.accept(IncomingMessage(id: "m1", session: "s", user: "u", text: "a long turn")).isAcknowledged)
        let accepting = Task { try await gateway.accept(IncomingMessage(id: "m2", session: "s", user: "u", text: "hello")) }
        await store.firstCommitStarted()
        // The drain waits for m1's turn, which m2 would have superseded had it come before.
        try await gateway.requestDrain(.restart, immediate: false, origin: .control)
        store.letFirstCommitThrough()
        guard case .acknowledged(let acknowledgement) = try await accepting.value else {
            Issue.record("m2 not stored")
            return
        }
        #expect(acknowledgement.status == .queued)
        #expect(await gateway.status().inFlight == 1, "m1's turn runs on into the drain")

        // Cut short by the drain instead: m1 is the next process's to run again, not cancelled.
        try await gateway.requestDrain(.restart, immediate: true, origin: .control)
        try await running.value
        try await writer.write([])
        #expect(try sqlite.pendingMessages().map(\.id) == ["m1", "m2"])
        writing.cancel()
        _ = try? await writing.value
    }
}

/// The goodbye event streams get before the process exits.
@Suite("Goodbye")
struct GoodbyeTests {
    @Test("A stop that comes while a finished restart drain flushes its writes: the goodbye says stop, as the exit does")
    func aStopDuringTheLastFlushChangesTheGoodbye() async throws {
        let flush: @Sendable ([[StoreWrite]]) -> Bool = { groups in groups.allSatisfy(\.isEmpty) }
        let harness = try GatewayHarness(store: { FirstCommitHeldStore($0, holding: flush) })
        defer { harness.removeDirectory() }
        let (store, writer, gateway) = (harness.store, harness.writer, harness.gateway)
        let subscription = harness.bus.subscribe(session: "s")
        let writing = Task { try await writer.run() }
        let running = Task { try await gateway.run() }
        await gateway.listenerStarted()

        // Nothing in flight: the restart drain is over at once, and flushes before its goodbye.
        try await gateway.requestDrain(.restart, immediate: false, origin: .control)
        await store.firstCommitStarted()
        try await gateway.requestDrain(.stop, immediate: false, origin: .control)
        store.letFirstCommitThrough()
        try await running.value
        var goodbye: Goodbye?
        for await item in subscription.items {
            if case .goodbye(let said) = item { goodbye = said }
        }
        #expect(goodbye?.reason == .stop)
        writing.cancel()
        _ = try? await writing.value
    }
}
