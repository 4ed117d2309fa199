import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import Logging
import Testing

/// A whole Baton application running in the test process on a free port, with its
/// state in a temporary directory that outlives one process (for restart tests).
struct InProcessBaton {
    let stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-http-\(UUID().uuidString)").path
    var configuration: Configuration

    init(_ configure: (inout Configuration) -> Void = { _ in }) {
        var configuration = Configuration(listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: stateDirectory, admins: ["alice"])
        configuration.agent.delay = 0
        configure(&configuration)
        self.configuration = configuration
    }

    /// Silent unless `BATON_TEST_LOG` is set, then on standard error.
    static var logger: Logger {
        Logger(label: "baton.test") { label in
            guard ProcessInfo.processInfo.environment["BATON_TEST_LOG"] != nil else { return SwiftLogNoOpLogHandler() }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .debug
            return handler
        }
    }

    /// Runs one process's worth of Baton around `body`; returns how it exited.
    ///
    /// If `body` leaves the gateway running, it is stopped at once afterwards.
    @discardableResult
    func run(
        agent: (any Agent)? = nil,
        logger: Logger = InProcessBaton.logger,
        _ body: @escaping @Sendable (BatonApplication, BatonHTTPClient) async throws -> Void
    ) async throws -> BatonApp.ExitStatus {
        let app = try await buildApplication(
            configuration: configuration, environment: [:], logger: logger,
            agent: agent)
        let port = try #require(app.httpSocket.port)
        return try await withThrowingTaskGroup(of: BatonApp.ExitStatus?.self) { group in
            group.addTask { try await app.run() }
            group.addTask {
                try await withTimeout(.seconds(30), waitingFor: "the gateway to be ready") {
                    for await status in await app.gateway.statusUpdates() where status.state != .starting { break }
                }
                try await withBatonHTTPClient(port: port) { client in try await body(app, client) }
                // A drain the test started runs to its end; otherwise stop now.
                if await app.gateway.status().state == .ready {
                    try await app.gateway.requestDrain(.stop, immediate: true, origin: .control)
                }
                return nil
            }
            var exit: BatonApp.ExitStatus?
            for try await result in group {
                if let result { exit = result }
            }
            return try #require(exit)
        }
    }
}

extension BatonHTTPClient.Response {
    /// The `error` field of an error body.
    var errorMessage: String? {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["error"] as? String
    }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:]
    }
}

extension BatonHTTPClient {
    /// Opens the session's stream, and once it is live runs `action` (which should end
    /// in a drain), then reads until `goodbye`.
    ///
    /// The stream is proven live by a `/status` notice posted first: a drain started
    /// before the connection is accepted would close the listener under it.
    func eventsUntilGoodbye(session: String, whenOpen action: @escaping @Sendable () async throws -> Void) async throws -> [ServerSentEvent] {
        _ = try await post(session: session, user: "observer", text: "/status")
        let (opened, open) = AsyncStream.makeStream(of: Void.self)
        return try await withThrowingTaskGroup(of: [ServerSentEvent]?.self) { group in
            group.addTask {
                try await self.events(session: session) { events in
                    open.yield()
                    return events.contains(where: \.isGoodbye)
                }
            }
            group.addTask {
                for await _ in opened { break }
                try await action()
                return nil
            }
            var events: [ServerSentEvent] = []
            for try await result in group {
                if let result { events = result }
            }
            return events
        }
    }
}
