@testable import BatonCore
import BatonTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// A client's retry of a message (the same id) while the first try's commit is under way.
@Suite("Retried messages")
struct RetriedMessageTests {
    @Test("A retry is answered 202 only once its message is on disk, though the first try's commit failed")
    func aRetryIsAnsweredOnlyOnceOnDisk() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-retry-\(UUID().uuidString)").path
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
        let message = IncomingMessage(id: "k", session: "s", user: "u", text: "hello")

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            group.addTask { try await gateway.run() }
            await gateway.listenerStarted()

            let first = Task { try await gateway.accept(message) }
            await store.firstCommitStarted()
            let retry = Task { try await gateway.accept(message) }
            // Time for the retry to find the first try under way. Were it slower, it would
            // come after the failure, and the checks below would hold either way.
            try await Task.sleep(for: .milliseconds(50))
            store.failFirstCommit()

            await #expect(throws: GatewayError.self) { try await first.value }
            let answer = try await retry.value
            #expect(answer.isAcknowledged, "\(answer)")
            #expect(try sqlite.message(id: "k") != nil, "answered 202, so on disk")

            _ = await gateway.requestDrain(.stop, immediate: true, origin: .control)
            try await group.next()
            group.cancelAll()
        }
    }
}
