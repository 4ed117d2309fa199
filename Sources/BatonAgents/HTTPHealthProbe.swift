import AsyncHTTPClient
import Logging
import NIOCore

/// `GET agent.health_url` with a short timeout: healthy on any 2xx answer.
public struct HTTPHealthProbe: Sendable {
    /// The liveness URL.
    public let url: String
    /// How long a probe may take before it counts as failed.
    public let timeout: Duration
    let client: HTTPClient

    /// - Parameters:
    ///   - url: `agent.health_url`.
    ///   - timeout: see ``timeout(forInterval:)``.
    public init(url: String, timeout: Duration) {
        self.init(url: url, timeout: timeout, client: AgentHTTPClient.forProbes)
    }

    init(url: String, timeout: Duration, client: HTTPClient) {
        self.url = url
        self.timeout = timeout
        self.client = client
    }

    /// The timeout for probes every `interval`: short, but not so short that a busy
    /// machine fails healthy agents — between 1 and 5 seconds.
    public static func timeout(forInterval interval: Duration) -> Duration {
        min(max(interval, .seconds(1)), .seconds(5))
    }

    /// Probes once; nil when the agent is healthy, else why not.
    public func check(logger: Logger) async -> String? {
        let timeout = self.timeout
        return await withTaskGroup(of: String?.self) { group in
            group.addTask { await self.attempt(logger: logger) }
            // The request's deadline covers the answer's head; this covers its body too.
            group.addTask {
                try? await Task.sleep(for: timeout)
                return "no answer within \(timeout)"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func attempt(logger: Logger) async -> String? {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        do {
            let response = try await client.execute(request, timeout: .nanoseconds(Int64(timeout / .nanoseconds(1))), logger: logger)
            // The status decides; the body, however long, is read and dropped so the
            // connection can serve the next probe.
            for try await _ in response.body {}
            guard (200..<300).contains(response.status.code) else {
                return "HTTP \(response.status.code) \(response.status.reasonPhrase)"
            }
            return nil
        } catch {
            return AgentHTTPClient.unreachableCause(error) ?? "\(error)"
        }
    }
}
