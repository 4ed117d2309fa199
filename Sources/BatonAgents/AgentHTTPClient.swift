import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The HTTP clients of the HTTP agent and of its health probe.
///
/// Unlike `HTTPClient.shared` they do not retry a refused connection until the request's
/// deadline (a turn for an agent that is down fails at once, naming the cause). Turns
/// follow no redirect (a `POST` turned into a `GET` elsewhere answers nothing the turn
/// asked: the 3xx is reported as the agent's answer); the probe's `GET` follows up to
/// three. Like `HTTPClient.shared` they live as long as the process.
///
/// Turns get as many connections as may run at once (`agent.max_concurrent_turns`), so
/// none waits for another's; the probe has its own, so it never queues behind turns
/// and reports a busy agent as down. Connections idle for 4 s are closed: agents' HTTP
/// servers commonly close theirs after 5 s, and a turn sent on a connection the agent
/// is closing fails.
enum AgentHTTPClient {
    private static let clients = Mutex<[Int: HTTPClient]>([:])

    /// The client for turns, with `connections` connections to the agent.
    static func forTurns(connections: Int) -> HTTPClient {
        client(connections: max(1, connections))
    }

    /// The health probe's client: one connection of its own.
    static var forProbes: HTTPClient { client(connections: 0) }

    /// One client per number of connections (0: the probe's), made once.
    private static func client(connections: Int) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[connections] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.retryConnectionEstablishment = false
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, connections)
            configuration.connectionPool.idleTimeout = .seconds(4)
            // A turn's POST is not sent elsewhere; the probe's GET may be (a health URL
            // that redirects to its form with a slash, say).
            configuration.redirectConfiguration = connections == 0 ? .follow(max: 3, allowCycles: false) : .disallow
            configuration.timeout.connect = .seconds(10)
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[connections] = client
            return client
        }
    }

    /// Why a request got no answer from the agent, in words for a chat user; nil when the
    /// error is not about reaching the agent.
    static func unreachableCause(_ error: any Error) -> String? {
        switch error {
        case let error as HTTPClientError:
            switch error {
            case .remoteConnectionClosed: return "the agent closed the connection before answering"
            case .connectTimeout: return "connecting to the agent timed out"
            case .readTimeout, .deadlineExceeded: return "the agent did not answer in time"
            default: return nil
            }
        case let error as NIOConnectionError:
            if let failure = error.connectionErrors.first { return unreachableCause(failure.error) ?? "\(failure.error)" }
            return "the agent's host name \(error.host) could not be resolved"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case let error as ChannelError:
            switch error {
            case .connectTimeout: return "connecting to the agent timed out"
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return "the connection to the agent was lost"
            default: return nil
            }
        default:
            return nil
        }
    }
}
