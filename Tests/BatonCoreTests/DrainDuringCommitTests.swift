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
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-drain-commit-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sqlite = try SQLiteStore(directory: directory)
        let store = FirstCommitHeldStore(sqlite)
        let bus = EventBus()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let writer = StoreWriter(store: store, bus: bus, logger: logger)
        var configuration = Configuration(listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: directory)
        configuration.agent.delay = 0
        let gateway = Gateway(
            configuration: configuration, store: store, recovery: try sqlite.recovery(), writer: writer, bus: bus,
            agent: DemoAgent(delay: .zero), supervisor: nil, logger: logger)
        let writing = Task { try await writer.run() }
        let running = Task { try await gateway.run() }
        await gateway.listenerStarted()

        let accepting = Task { try await gateway.accept(IncomingMessage(id: "m", session: "s", user: "u", text: "hello")) }
        await store.firstCommitStarted()
        // Nothing runs yet (the message is not on disk): the drain is over at once.
        await gateway.requestDrain(.stop, immediate: false, origin: .control)
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
}
