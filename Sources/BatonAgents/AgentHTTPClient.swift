import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// The HTTP client the HTTP agent and its health probe share.
///
/// Unlike `HTTPClient.shared` it does not retry a refused connection until the request's
/// deadline: a turn for an agent that is down fails at once, naming the cause. Like
/// `HTTPClient.shared` it lives as long as the process.
enum AgentHTTPClient {
    static let shared: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

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
