@testable import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// A command answered by a notice is answered once, however often it comes.
@Suite("A command's notice")
struct CommandNoticeTests {
    @Test("The same /status twice at once (a retry racing the first request): one notice")
    func theSameStatusTwiceAtOnceGetsOneNotice() async throws {
        let harness = try GatewayHarness(store: { $0 })
        defer { harness.removeDirectory() }
        let writing = Task { try await harness.writer.run() }
        let running = Task { try await harness.gateway.run() }
        await harness.gateway.listenerStarted()
        let status = IncomingMessage(id: "status-1", session: "s", user: "u", text: "/status")
        async let first = harness.gateway.accept(status)
        async let second = harness.gateway.accept(status)
        _ = try await (first, second)
        try await harness.writer.write([])
        let notices = try harness.sqlite.events(session: "s", after: 0, limit: 100).filter { $0.data.contains(#""kind":"status""#) }
        #expect(notices.count == 1, "\(notices)")
        running.cancel()
        _ = try? await running.value
        writing.cancel()
        _ = try? await writing.value
    }
}
