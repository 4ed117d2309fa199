import AsyncHTTPClient
import BatonApp
import BatonCore
import Foundation
import InMemoryLogging
import Logging
import NIOCore

@testable import BatonAgents

/// A whole Baton application, built as `baton serve` builds it, on a loopback port with
/// its state in a temporary directory; the tests talk to it over HTTP.
struct TestGateway: Sendable {
    let app: BatonApplication
    let logs: InMemoryLogHandler
    var baseURL: String { "http://127.0.0.1:\(app.httpSocket.port ?? 0)" }

    /// Runs the application for `body`, then stops it (interrupting what still runs).
    ///
    /// The health interval is 0.2 s and the turn timeout an hour unless `configure` says
    /// otherwise.
    @discardableResult
    static func run<T: Sendable>(
        _ configure: (inout Configuration) -> Void, _ body: (TestGateway) async throws -> T
    ) async throws -> T {
        // As `baton serve` does: an agent that exits without reading its input must not
        // take the process with it.
        signal(SIGPIPE, SIG_IGN)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-agents-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = Configuration(listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: directory)
        configuration.agent.healthInterval = 0.2
        configuration.agent.turnTimeout = 3600
        configure(&configuration)

        let logs = InMemoryLogHandler()
        var logger = Logger(label: "baton.test") { _ in logs }
        logger.logLevel = .debug
        let app = try await buildApplication(configuration: configuration, environment: [:], logger: logger)
        let gateway = TestGateway(app: app, logs: logs)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await app.run() }
            let result: Result<T, any Error>
            do {
                _ = try await gateway.status("the gateway to be ready") { $0.state == .ready }
                result = .success(try await body(gateway))
            } catch {
                result = .failure(error)
            }
            try await app.gateway.requestDrain(.stop, immediate: true, origin: .control)
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                throw TimeoutError(what: "the gateway to stop", limit: .seconds(30))
            }
            try await group.next()
            group.cancelAll()
            return try result.get()
        }
    }

    /// Posts a chat message; returns its id.
    @discardableResult
    func send(_ text: String, session: String, user: String = "bob") async throws -> String {
        var request = HTTPClientRequest(url: "\(baseURL)/v1/messages")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let body = try JSONSerialization.data(withJSONObject: ["session": session, "user": user, "text": text])
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let answer = try await response.body.collect(upTo: 1 << 16)
        guard response.status.code == 202,
            let json = try JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: Any]
        else {
            throw TestFailure("POST /v1/messages answered \(response.status.code): \(String(buffer: answer))")
        }
        return json["id"] as? String ?? ""
    }

    /// The session's events from the first up to the first that `predicate` accepts.
    ///
    /// Reads the durable stream from its start, so it sees events that came before the call.
    func events(
        session: String, until what: String, timeout: Duration = .seconds(20),
        where predicate: @escaping @Sendable (ClientEvent) -> Bool
    ) async throws -> [ClientEvent] {
        let request = HTTPClientRequest(url: "\(baseURL)/v1/sessions/\(session)/events")
        return try await withTimeout(timeout, "\(what) in session \(session)") {
            let stream = try await HTTPClient.shared.execute(request, deadline: .distantFuture)
            var parser = ServerSentEventParser()
            var seen: [ClientEvent] = []
            for try await chunk in stream.body {
                for event in parser.consume(chunk.readableBytesView) {
                    seen.append(ClientEvent(event: event.name, data: event.data))
                    if predicate(seen[seen.count - 1]) { return seen }
                }
            }
            throw TestFailure("The stream of \(session) ended before \(what); it had \(seen)")
        }
    }

    /// The first event of the session that `predicate` accepts.
    func event(
        session: String, _ what: String, timeout: Duration = .seconds(20),
        where predicate: @escaping @Sendable (ClientEvent) -> Bool
    ) async throws -> ClientEvent {
        try await events(session: session, until: what, timeout: timeout, where: predicate).last!
    }

    /// The text of the first reply to `message`.
    func reply(to message: String, session: String) async throws -> String {
        try await event(session: session, "a reply to \(message)") { $0.isReply(to: message) }.text ?? ""
    }

    /// Waits for a gateway status that `predicate` accepts.
    @discardableResult
    func status(
        _ what: String, timeout: Duration = .seconds(20), where predicate: @escaping @Sendable (GatewayStatus) -> Bool
    ) async throws -> GatewayStatus {
        let gateway = app.gateway
        return try await withTimeout(timeout, what) {
            for await status in await gateway.statusUpdates() where predicate(status) { return status }
            throw TestFailure("The gateway stopped before \(what)")
        }
    }

    /// `GET path` as JSON.
    func json(_ path: String) async throws -> [String: Any] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "\(baseURL)\(path)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard let json = try JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw TestFailure("GET \(path) did not answer a JSON object: \(String(buffer: body))")
        }
        return json
    }

    /// Log entries whose message contains `text`.
    func logEntries(containing text: String) -> [InMemoryLogHandler.Entry] {
        logs.entries.filter { "\($0.message)".contains(text) }
    }
}
