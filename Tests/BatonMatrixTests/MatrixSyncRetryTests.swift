import BatonCore
import BatonMatrix
import BatonTestSupport
import CoreMetrics
import Foundation
import Logging
import Synchronization
import Testing

/// A sync batch read again: the Matrix adapter in this process, on a real Synapse, over a
/// store that refuses to save the sync position a few times, so the same batch of
/// messages is handled again and again before its position is stored.
@Suite("Matrix sync batches read again", .serialized)
struct MatrixSyncRetryTests {
    @Test("Commands and refusals in a batch read again are answered once; messages once")
    func batchReadAgain() async throws {
        // Synapse answers a sync asked again within two minutes from a cache, with the same
        // batch, even when the first asking was given up; without it, a batch read again
        // holds every message sent by then.
        try await withSynapse(extraConfiguration: "caches:\n  sync_response_cache_duration: 0\n") { synapse in
            let bot = try await synapse.register("baton")
            let alice = try await synapse.register("alice")
            let bob = try await synapse.register("bob")
            defer {
                for user in [bot, alice, bob] { user.close() }
            }
            let room = try await alice.createRoom(inviting: [bob.userID, bot.userID])
            try await bob.join(room)

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-matrix-retry-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let sqlite = try SQLiteStore(directory: directory)
            let store = CursorRefusingStore(sqlite)
            let bus = EventBus()
            let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            let writer = StoreWriter(store: store, bus: bus, logger: logger)
            var configuration = Configuration(listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: directory)
            configuration.agent.delay = 0
            configuration.admins = [alice.userID]
            let gateway = Gateway(
                configuration: configuration, store: store, recovery: try sqlite.recovery(), writer: writer, bus: bus,
                agent: DemoAgent(delay: .zero), supervisor: nil, logger: logger)
            let matrix = MatrixConfiguration(
                homeserver: synapse.baseURL, userID: bot.userID, accessToken: bot.accessToken, deviceID: bot.deviceID, rooms: [room])
            @Sendable func adapter() -> MatrixNetwork {
                MatrixNetwork(
                    configuration: matrix, gateway: gateway, store: store, writer: writer, bus: bus,
                    metricsFactory: NOOPMetricsHandler.instance, logger: logger)
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await writer.run() }
                group.addTask { try await gateway.run() }
                await gateway.listenerStarted()
                // A first adapter joins and stores its position, then stops; the messages
                // come while none runs, so the next adapter reads them in one batch.
                let first = Task { try await adapter().run() }
                _ = try await eventually("the bot in the room and its first position stored", timeout: .seconds(60)) {
                    let joined = gateway.networks.snapshot["matrix"]?.rooms.contains(room) == true
                    return try joined && sqlite.cursor(network: "matrix") != nil ? true : nil
                }
                first.cancel()
                try await first.value

                try await bob.send("/restart", to: room)
                try await bob.send("/status", to: room)
                let hello = try await bob.send("hello", to: room)
                store.refuseCursorSaves(3)
                group.addTask { try await adapter().run() }
                _ = try await eventually("the position stored after three refusals", timeout: .seconds(60)) {
                    store.cursorSavesRefused == 3 && store.cursorSavedSinceRefusals ? true : nil
                }
                try await bob.waitForMessages(in: room, "the reply to hello", timeout: .seconds(30)) { seen in
                    seen.contains { $0.sender == bot.userID && $0.inReplyTo == hello }
                }
                _ = try await eventually("every event delivered", timeout: .seconds(30)) {
                    gateway.networks.snapshot["matrix"]?.backlog == 0 ? true : nil
                }

                let fromBot = try await bob.messages(in: room).filter { $0.sender == bot.userID }
                #expect(fromBot.filter { $0.msgtype == "m.notice" && $0.body.contains("Ready:") }.count == 1, "\(fromBot.map(\.body))")
                #expect(fromBot.filter { $0.body.contains("Only admins may /restart") }.count == 1, "\(fromBot.map(\.body))")
                #expect(fromBot.filter { $0.inReplyTo == hello && $0.msgtype == "m.text" }.count == 1, "\(fromBot.map(\.body))")

                _ = await gateway.requestDrain(.stop, immediate: true, origin: .control)
                group.cancelAll()
            }
        }
    }
}

/// A SQLite store that refuses, a given number of times, a commit's part that saves a chat
/// network's sync position; everything else goes to the store.
final class CursorRefusingStore: ForwardingStore {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "the test refused to save the position" }
    }

    let base: SQLiteStore
    private let state = Mutex((toRefuse: 0, refused: 0, savedSince: false))

    init(_ base: SQLiteStore) {
        self.base = base
    }

    func refuseCursorSaves(_ count: Int) {
        state.withLock { $0 = (toRefuse: count, refused: 0, savedSince: false) }
    }

    var cursorSavesRefused: Int { state.withLock { $0.refused } }
    /// Whether a position was saved after the refusals ran out.
    var cursorSavedSinceRefusals: Bool { state.withLock { $0.savedSince } }

    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        let refused = groups.map { group in
            guard group.contains(where: \.savesCursor) else { return false }
            return state.withLock { state in
                guard state.toRefuse > 0 else {
                    if state.refused > 0 { state.savedSince = true }
                    return false
                }
                state.toRefuse -= 1
                state.refused += 1
                return true
            }
        }
        var stored = try await base.commit(zip(groups, refused).filter { !$0.1 }.map(\.0)).makeIterator()
        return refused.map { $0 ? .failure(Refused()) : stored.next()! }
    }
}

extension StoreWrite {
    fileprivate var savesCursor: Bool {
        if case .saveCursor = self { true } else { false }
    }
}
