import BatonCore
import BatonMatrix
import BatonTestSupport
import CoreMetrics
import Foundation
import Logging
import Synchronization
import Testing

/// A sync batch read again: the Matrix adapter in this process, on a real Synapse, over a
/// store that refuses some of its writes a few times, so the same batch is handled again
/// before its position is stored.
@Suite("Matrix sync batches read again", .serialized)
struct MatrixSyncRetryTests {
    @Test("Commands and refusals in a batch read again are answered once; messages once")
    func batchReadAgain() async throws {
        try await withAdapterWorld { world in
            let (bot, bob, room, store) = (world.bot, world.bob, world.room, world.store)
            // A first adapter joins and stores its position, then stops; the messages come
            // while none runs, so the next adapter reads them in one batch.
            let first = Task { try await world.adapter().run() }
            try await world.waitUntilJoined(room)
            first.cancel()
            try await first.value

            try await bob.send("/restart", to: room)
            try await bob.send("/status", to: room)
            let hello = try await bob.send("hello", to: room)
            store.refuse(3) { if case .saveCursor = $0 { true } else { false } }
            world.start(world.adapter())
            _ = try await eventually("the position stored after three refusals", timeout: .seconds(60)) {
                store.refused == 3 && store.committedSinceRefusals ? true : nil
            }
            try await bob.waitForMessages(in: room, "the reply to hello", timeout: .seconds(30)) { seen in
                seen.contains { $0.sender == bot.userID && $0.inReplyTo == hello }
            }
            try await world.waitUntilDelivered()

            let fromBot = try await bob.messages(in: room).filter { $0.sender == bot.userID }
            #expect(fromBot.filter { $0.msgtype == "m.notice" && $0.body.contains("Ready:") }.count == 1, "\(fromBot.map(\.body))")
            #expect(fromBot.filter { $0.body.contains("Only admins may /restart") }.count == 1, "\(fromBot.map(\.body))")
            #expect(fromBot.filter { $0.inReplyTo == hello && $0.msgtype == "m.text" }.count == 1, "\(fromBot.map(\.body))")
        }
    }

    @Test("An encrypted room's notice is given once though its mark could not be stored the first time")
    func encryptionNoticeOnceThoughItsMarkFailed() async throws {
        try await withAdapterWorld { world in
            let (bot, alice, store) = (world.bot, world.alice, world.store)
            world.start(world.adapter())
            try await world.waitUntilJoined(world.room)
            store.refuse(1) { if case .addMark(network: "matrix", let mark, _) = $0 { mark.hasPrefix("encrypted:") } else { false } }
            let secret = try await alice.createRoom(inviting: [bot.userID], encrypted: true)
            _ = try await eventually("the encryption notice's mark stored after a refusal", timeout: .seconds(60)) {
                store.refused == 1 && store.committedSinceRefusals ? true : nil
            }
            // The commit seen may be another one: the notice is waited for in the room
            // itself, then any second copy would be delivered too before the count.
            try await alice.waitForMessages(in: secret, "the encryption notice", timeout: .seconds(30)) { seen in
                seen.contains { $0.sender == bot.userID && $0.body.contains("cannot read encrypted messages") }
            }
            try await world.waitUntilDelivered()
            let notices = try await alice.messages(in: secret).filter { $0.sender == bot.userID && $0.msgtype == "m.notice" }
            #expect(notices.filter { $0.body.contains("cannot read encrypted messages") }.count == 1, "\(notices.map(\.body))")
        }
    }

    @Test("A backlog longer than a hundred pages of room history, missed while no adapter ran, is answered, each message once")
    func longBacklogAnswered() async throws {
        try await withAdapterWorld { world in
            let (bot, bob, room) = (world.bot, world.bob, world.room)
            let first = Task { try await world.adapter().run() }
            try await world.waitUntilJoined(room)
            first.cancel()
            try await first.value

            // One event a page: 130 messages are 130 pages of what the sync left out.
            var backlog: [String] = []
            for number in 1...130 { backlog.append(try await bob.send("backlog \(number)", to: room)) }
            let sent = backlog
            world.start(world.adapter(paging: MatrixPaging(timelineLimit: 3, historyPage: 1)))
            try await bob.waitForReplies(from: bot.userID, to: sent, in: room, timeout: .seconds(120))
            try await world.waitUntilDelivered()
            let replies = try await bob.replyCounts(from: bot.userID, in: room)
            #expect(replies == Dictionary(uniqueKeysWithValues: sent.map { ($0, 1) }))
        }
    }

    /// One test's world: Synapse (its sync cache off, so that a batch read again holds
    /// every message sent by then), the bot, alice (an admin) and bob in a room, and a
    /// gateway in this process over a ``RefusingStore``.
    struct World: Sendable {
        let synapse: Synapse
        let bot: MatrixTestUser
        let alice: MatrixTestUser
        let bob: MatrixTestUser
        let room: String
        let sqlite: SQLiteStore
        let store: RefusingStore
        let gateway: Gateway
        let writer: StoreWriter
        let bus: EventBus
        let logger: Logger
        let group: TaskStarter

        /// A new adapter, as a new process would make.
        func adapter(paging: MatrixPaging = .standard) -> MatrixNetwork {
            MatrixNetwork(
                configuration: MatrixConfiguration(
                    homeserver: synapse.baseURL, userID: bot.userID, accessToken: bot.accessToken, deviceID: bot.deviceID, rooms: [room]),
                gateway: gateway, store: store, writer: writer, bus: bus, metricsFactory: NOOPMetricsHandler.instance, paging: paging,
                logger: logger)
        }

        /// Runs `adapter` until the test ends.
        func start(_ adapter: MatrixNetwork) {
            group.start { try await adapter.run() }
        }

        func waitUntilJoined(_ room: String) async throws {
            _ = try await eventually("the bot in the room and its first position stored", timeout: .seconds(60)) {
                let joined = gateway.networks.snapshot["matrix"]?.rooms.contains(room) == true
                return try joined && sqlite.cursor(network: "matrix") != nil ? true : nil
            }
        }

        func waitUntilDelivered() async throws {
            _ = try await eventually("every event delivered", timeout: .seconds(30)) {
                gateway.networks.snapshot["matrix"]?.backlog == 0 ? true : nil
            }
        }
    }

    /// Starts tasks that run until the test's world is torn down.
    final class TaskStarter: Sendable {
        private let tasks = Mutex<[Task<Void, any Error>]>([])

        func start(_ body: @escaping @Sendable () async throws -> Void) {
            let task = Task { try await body() }
            tasks.withLock { $0.append(task) }
        }

        func cancelAll() async {
            let tasks = tasks.withLock { $0 }
            for task in tasks { task.cancel() }
            for task in tasks { _ = try? await task.value }
        }
    }

    private func withAdapterWorld(_ body: (World) async throws -> Void) async throws {
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
            let store = RefusingStore(sqlite)
            let bus = EventBus()
            let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
            let writer = StoreWriter(store: store, bus: bus, logger: logger)
            var configuration = Configuration(listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: directory)
            configuration.agent.delay = 0
            configuration.admins = [alice.userID]
            let gateway = Gateway(
                configuration: configuration, store: store, recovery: try sqlite.recovery(), writer: writer, bus: bus,
                agent: DemoAgent(delay: .zero), supervisor: nil, logger: logger)
            let tasks = TaskStarter()
            let running = Task { try await gateway.run() }
            let writing = Task { try await writer.run() }
            await gateway.listenerStarted()
            let world = World(
                synapse: synapse, bot: bot, alice: alice, bob: bob, room: room, sqlite: sqlite, store: store, gateway: gateway,
                writer: writer, bus: bus, logger: logger, group: tasks)
            do {
                try await body(world)
            } catch {
                await tasks.cancelAll()
                _ = try await gateway.requestDrain(.stop, immediate: true, origin: .control)
                writing.cancel()
                throw error
            }
            await tasks.cancelAll()
            _ = try await gateway.requestDrain(.stop, immediate: true, origin: .control)
            try await running.value
            writing.cancel()
            _ = try? await writing.value
        }
    }
}

/// A SQLite store that refuses, a given number of times, a commit's group holding a write
/// the test picks; everything else goes to the store.
final class RefusingStore: ForwardingStore {
    struct Refused: Error, CustomStringConvertible {
        var description: String { "the test refused the write" }
    }

    private struct State {
        var toRefuse = 0
        var refused = 0
        var committedSince = false
        var picks: @Sendable (StoreWrite) -> Bool = { _ in false }
    }

    let base: SQLiteStore
    private let state = Mutex(State())

    init(_ base: SQLiteStore) {
        self.base = base
    }

    /// Refuses the next `count` groups with a write `picks` chooses.
    func refuse(_ count: Int, groupsWith picks: @escaping @Sendable (StoreWrite) -> Bool) {
        state.withLock { $0 = State(toRefuse: count, picks: picks) }
    }

    var refused: Int { state.withLock { $0.refused } }
    /// Whether such a group committed after the refusals ran out.
    var committedSinceRefusals: Bool { state.withLock { $0.committedSince } }

    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        let refusing = groups.map { group in
            state.withLock { state in
                guard group.contains(where: state.picks) else { return false }
                guard state.toRefuse > 0 else {
                    if state.refused > 0 { state.committedSince = true }
                    return false
                }
                state.toRefuse -= 1
                state.refused += 1
                return true
            }
        }
        var stored = try await base.commit(zip(groups, refusing).filter { !$0.1 }.map(\.0)).makeIterator()
        return refusing.map { $0 ? .failure(Refused()) : stored.next()! }
    }
}
