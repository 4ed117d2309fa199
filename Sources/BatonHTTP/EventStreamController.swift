import BatonCore
import Foundation
import Hummingbird

/// `GET /v1/sessions/{session}/events`: the session's events as Server-Sent Events.
///
/// Replays stored events after `Last-Event-ID` (or `?after=N`), then follows live ones;
/// each event goes out once, in id order, with a comment every 15 s
/// (``StreamKeepAlive``). Ends with `goodbye` when the process drains.
struct EventStreamController {
    let store: any Store
    let bus: EventBus
    /// Events read from the store per query while replaying.
    static let pageSize = 500

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/sessions/{session}/events", use: stream)
    }

    @Sendable func stream(_ request: Request, context: BatonRequestContext) async throws -> Response {
        let session = try context.parameters.requireDecoded("session")
        let after = try Self.resumePoint(request)
        let store = self.store
        let bus = self.bus
        let body = ResponseBody { writer in
            // Subscribed here, before the backlog is read, so nothing committed in between
            // is missed; and only once the body is written, so a client gone before the
            // head went out leaves no subscription behind.
            let subscription = bus.subscribe(session: session)
            defer { bus.unsubscribe(subscription) }
            // A client that goes away ends the stream at once, not at the session's next
            // event: an idle session's stream would otherwise hold its connection for good.
            try await request.body.consumeWithInboundCloseHandler { _ in
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                var last = after
                try await Self.replay(store: store, session: session, after: &last, through: .max, to: &writer)
                try await StreamKeepAlive.merging(subscription.items, bufferLimit: bus.bufferLimit) { items in
                    for await item in items {
                        switch item {
                        case nil:
                            try await writer.write(StreamKeepAlive.comment)
                        case .event(let event):
                            guard event.id > last else { continue }
                            guard !event.data.isEmpty else {
                                // A large event's wake-up (``EventBus/largeEventBytes``): read
                                // from the store, with any gap before it.
                                try await Self.replay(store: store, session: session, after: &last, through: event.id, to: &writer)
                                continue
                            }
                            if event.id > last + 1 {
                                // The live buffer dropped some: fill the gap from the store.
                                try await Self.replay(store: store, session: session, after: &last, through: event.id - 1, to: &writer)
                            }
                            try await writer.write(Self.frame(event))
                            last = event.id
                        case .goodbye(let goodbye):
                            let data = String(decoding: try WireFormat.encoder.encode(goodbye), as: UTF8.self)
                            try await writer.write(ByteBuffer(string: "event: goodbye\ndata: \(data)\n\n"))
                        }
                    }
                }
            } onInboundClosed: {
                bus.unsubscribe(subscription)
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body)
    }

    private static func replay(
        store: any Store, session: String, after last: inout Int64, through limit: Int64, to writer: inout any ResponseBodyWriter
    ) async throws {
        while last < limit {
            let page = try await store.events(session: session, after: last, limit: pageSize)
            for event in page where event.id <= limit {
                try await writer.write(frame(event))
                last = event.id
            }
            // The end, or past `limit` (ids may skip some: pruning with the clock set back).
            if page.count < pageSize || (page.last?.id ?? limit) >= limit { return }
        }
    }

    static func frame(_ event: SessionEvent) -> ByteBuffer {
        ByteBuffer(string: "id: \(event.id)\nevent: \(event.kind.rawValue)\ndata: \(event.data)\n\n")
    }

    /// `Last-Event-ID` wins over `?after=`; both must be whole numbers ≥ 0.
    static func resumePoint(_ request: Request) throws -> Int64 {
        let text = request.headers[.lastEventID] ?? request.uri.queryParameters["after"].map(String.init)
        guard let text else { return 0 }
        guard let value = Int64(text), value >= 0 else {
            throw APIError(.badRequest, "Last-Event-ID or after must be a whole number ≥ 0, got \"\(text)\"")
        }
        return value
    }
}
