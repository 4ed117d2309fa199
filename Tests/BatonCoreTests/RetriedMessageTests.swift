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
        let harness = try GatewayHarness(store: FirstCommitHeldStore.init)
        defer { harness.removeDirectory() }
        let (sqlite, store, writer, gateway) = (harness.sqlite, harness.store, harness.writer, harness.gateway)
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

            _ = try await gateway.requestDrain(.stop, immediate: true, origin: .control)
            try await group.next()
            group.cancelAll()
        }
    }
}
