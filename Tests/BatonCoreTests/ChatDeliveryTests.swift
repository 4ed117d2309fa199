@testable import BatonCore
import BatonTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// How a chat network's stored events reach its rooms (``ChatDelivery``), with an outbox
/// that records what it was given.
@Suite("Chat delivery")
struct ChatDeliveryTests {
    @Test("Reads the store fails are tried again, at the start and after a commit: the reply still goes out")
    func failedReadsAreTriedAgain() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-delivery-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = FailingReadsStore(try SQLiteStore(directory: directory))
        let bus = EventBus()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let writer = StoreWriter(store: store, bus: bus, logger: logger)
        let outbox = RecordingOutbox()
        let delivery = ChatDelivery(outbox: outbox, store: store, writer: writer, bus: bus, logger: logger, backlogChanged: { _ in })

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await writer.run() }
            group.addTask { await delivery.run() }
            try await writer.write([
                .appendEvent(SessionEvent(session: "http-session", id: 0, kind: .reply, data: #"{"text":"not a room's"}"#)),
                .appendEvent(SessionEvent(session: "!room", id: 0, kind: .reply, data: #"{"text":"hello"}"#)),
            ])
            let delivered = try #require(try await withTimeout(.seconds(30), waitingFor: "the room's reply to be delivered") { await outbox.next() })
            #expect(delivered.session == "!room" && delivered.data == #"{"text":"hello"}"#)
            #expect(store.failedReads == ["deliveryPositions", "events"], "each read failed once, and was tried again")
            group.cancelAll()
        }
    }

    @Test("A chat network's feed carries the events of its own sessions only")
    func feedCarriesItsOwnSessions() async {
        let bus = EventBus()
        let feed = bus.subscribeToAll(sessionsStartingWith: "!")
        #expect(bus.isFollowed(session: "!any-room") && !bus.isFollowed(session: "http-session"))
        bus.publish(["http-session", "!room", "http-other"].map { SessionEvent(session: $0, id: 1, kind: .reply, data: "{}") })
        bus.close(with: Goodbye(reason: .stop, instance: "test"))
        var events: [SessionEvent] = []
        for await item in feed.items {
            if case .event(let event) = item { events.append(event) }
        }
        #expect(events.map(\.session) == ["!room"])
        // A wake-up, not a copy: a feed held up for long keeps no event's text.
        #expect(events.map(\.data) == [""] && events.map(\.id) == [1])
    }
}

/// An outbox for the sessions whose names start with "!", that records each event it is
/// given.
final class RecordingOutbox: ChatOutbox {
    private let (delivered, deliveredContinuation) = AsyncStream.makeStream(of: SessionEvent.self)

    var network: String { "test" }
    var sessionPrefix: String { "!" }
    func owns(session: String) -> Bool { session.hasPrefix("!") }
    func caughtUp(session: String) async {}

    func deliver(_ event: SessionEvent) async throws(ChatDeliveryError) {
        deliveredContinuation.yield(event)
    }

    /// The next event delivered; nil when the waiting task is cancelled first.
    func next() async -> SessionEvent? {
        for await event in delivered { return event }
        return nil
    }
}

/// A SQLite store whose first read of delivery positions and first read of events fail.
final class FailingReadsStore: ForwardingStore {
    struct Unavailable: Error {}

    let base: SQLiteStore
    private let failed = Mutex<[String]>([])

    init(_ base: SQLiteStore) {
        self.base = base
    }

    /// The reads that failed, in order.
    var failedReads: [String] { failed.withLock { $0 } }

    /// Throws the first time `read` is asked for.
    private func failOnce(_ read: String) throws {
        let first = failed.withLock { failed in
            guard !failed.contains(read) else { return false }
            failed.append(read)
            return true
        }
        if first { throw Unavailable() }
    }

    func deliveryPositions(network: String) async throws -> [String: Int64] {
        try failOnce("deliveryPositions")
        return try await base.deliveryPositions(network: network)
    }

    func events(session: String, after: Int64, limit: Int) async throws -> [SessionEvent] {
        try failOnce("events")
        return try base.events(session: session, after: after, limit: limit)
    }
}
