import AsyncHTTPClient
import Foundation
import NIOCore

/// A test client for Baton's chat API on `127.0.0.1:port` (or another host of this machine).
///
/// Every request uses a new connection and a refused connection is not retried, so a test
/// sees each refusal: zero-downtime restarts are judged by exactly that.
public final class BatonHTTPClient: Sendable {
    /// An HTTP answer: status, the `Baton-Instance` that gave it, and its body.
    public struct Response: Sendable {
        public var status: Int
        public var instance: String?
        public var headers: [(String, String)]
        public var body: [UInt8]

        public var text: String { String(decoding: body, as: UTF8.self) }

        public func decode<T: Decodable>(_ type: T.Type) throws -> T {
            try WireJSON.decoder().decode(type, from: Data(body))
        }

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// An answer that was not the one a helper needs.
    public struct UnexpectedResponse: Error, CustomStringConvertible {
        public let description: String
    }

    public let port: Int
    public let host: String
    private let client: HTTPClient

    public init(port: Int, host: String = "127.0.0.1") {
        self.port = port
        self.host = host
        var configuration = HTTPClient.Configuration()
        configuration.maximumUsesPerConnection = 1
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// Must be called once the client is no longer needed.
    public func shutdown() async throws {
        try await client.shutdown()
    }

    public var baseURL: String { "http://\(host):\(port)" }

    /// Sends a request and collects the whole answer.
    public func request(
        _ method: String, _ path: String, body: [UInt8]? = nil, headers: [(String, String)] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> Response {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response = try await client.execute(request, timeout: .nanoseconds(timeout.nanoseconds))
        let collected = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Response(
            status: Int(response.status.code),
            instance: response.headers.first(name: "Baton-Instance"),
            headers: response.headers.map { ($0.name, $0.value) },
            body: Array(buffer: collected))
    }

    /// `POST /v1/messages`; answers whatever the server said.
    public func post(session: String, user: String = "bob", text: String, id: String? = nil) async throws -> Response {
        var fields = ["session": session, "user": user, "text": text]
        if let id { fields["id"] = id }
        let body = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        return try await request("POST", "/v1/messages", body: Array(body))
    }

    /// `POST /v1/messages` that must be stored: throws unless the answer is `202` with an acknowledgement.
    public func send(session: String, user: String = "bob", text: String, id: String? = nil) async throws -> SentMessage {
        let response = try await post(session: session, user: user, text: text, id: id)
        guard response.status == 202, let acknowledgement = try? response.decode(MessageAcknowledgement.self) else {
            throw UnexpectedResponse(description: "POST \(text) to \(session): \(response.status) \(response.text)")
        }
        return SentMessage(text: text, acknowledgement: acknowledgement, instance: response.instance)
    }

    /// `GET /v1/status`.
    public func status() async throws -> GatewayStatusBody {
        let response = try await request("GET", "/v1/status")
        guard response.status == 200 else {
            throw UnexpectedResponse(description: "GET /v1/status: \(response.status) \(response.text)")
        }
        return try response.decode(GatewayStatusBody.self)
    }

    /// Opens the session's event stream after `lastEventID` and hands each event to
    /// `onEvent` until it returns false or the server ends the stream (after `goodbye`).
    ///
    /// `onOpen` runs once the server has answered `200`: from then on the stream gets
    /// every event the server commits.
    public func streamEvents(
        session: String, lastEventID: Int64?, onOpen: () -> Void = {}, onEvent: (ServerSentEvent) -> Bool
    ) async throws {
        var request = HTTPClientRequest(url: "\(baseURL)/v1/sessions/\(Self.pathComponent(session))/events")
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: String(lastEventID)) }
        let response = try await client.execute(request, deadline: .distantFuture)
        guard response.status == .ok else {
            throw UnexpectedResponse(description: "GET events of \(session): \(response.status)")
        }
        onOpen()
        var parser = ServerSentEventParser()
        for try await buffer in response.body {
            for event in parser.feed(buffer.readableBytesView) where !onEvent(event) {
                return
            }
        }
    }

    /// Reads the session's events after `lastEventID` until `until` holds for what was read.
    public func events(
        session: String, after lastEventID: Int64? = nil, timeout: Duration = .seconds(30),
        until: @escaping @Sendable ([ServerSentEvent]) -> Bool
    ) async throws -> [ServerSentEvent] {
        try await withTimeout(timeout, waitingFor: "events of session \(session)") {
            var events: [ServerSentEvent] = []
            try await self.streamEvents(session: session, lastEventID: lastEventID) { event in
                events.append(event)
                return !until(events)
            }
            guard until(events) else {
                throw UnexpectedResponse(description: "the stream of \(session) ended early: \(events)")
            }
            return events
        }
    }

    /// `name` as one segment of a URL's path: percent-encoded but for letters, digits and `-._~`.
    public static func pathComponent(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "-._~").union(.alphanumerics)) ?? name
    }

    /// Every event of the session stored so far: a fresh stream read up to the
    /// `last_event_id` that `GET /v1/sessions/{session}` reports.
    public func allEvents(session: String, timeout: Duration = .seconds(30)) async throws -> [ServerSentEvent] {
        let response = try await request("GET", "/v1/sessions/\(Self.pathComponent(session))")
        struct SessionBody: Decodable { var lastEventId: Int64 }
        guard response.status == 200, let last = try? response.decode(SessionBody.self).lastEventId else {
            throw UnexpectedResponse(description: "GET /v1/sessions/\(session): \(response.status) \(response.text)")
        }
        guard last > 0 else { return [] }
        return try await events(session: session, timeout: timeout) { events in
            events.contains { ($0.id ?? 0) >= last }
        }
    }
}

/// A message the server stored: what was sent and what `202` said.
public struct SentMessage: Sendable {
    public var text: String
    public var acknowledgement: MessageAcknowledgement
    /// The process that stored it.
    public var instance: String?

    public init(text: String, acknowledgement: MessageAcknowledgement, instance: String?) {
        self.text = text
        self.acknowledgement = acknowledgement
        self.instance = instance
    }

    public var id: String { acknowledgement.id }
    public var session: String { acknowledgement.session }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

/// Runs `body` with a client for `port` and shuts the client down afterwards, however `body` ends.
public func withBatonHTTPClient<T: Sendable>(port: Int, _ body: (BatonHTTPClient) async throws -> T) async throws -> T {
    let client = BatonHTTPClient(port: port)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
