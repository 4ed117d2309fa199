import BatonCore
import HTTPTypes
import Logging

/// `POST /v1/messages` answered on the connection's event loop, not through the router:
/// the request's parts are read where NIO decodes them, and the answer is written there,
/// with one task per message for the gateway in between.
///
/// Through the router each request also crossed Hummingbird's per-connection task, its
/// async sequence of request parts and its async writer: this way a message takes 0.79
/// of the CPU under load (bench/README.md, "throughput"). Everything else the router
/// does for a request, this does the same way, with the same code: the caller's token
/// (``TokenAuthMiddleware``), the instance and `Connection: close` headers
/// (``APIMiddleware``), and the answer itself (``MessagesController``).
public struct MessageEndpoint: Sendable {
    let controller: MessagesController
    let authentication: TokenAuthMiddleware<BatonRequestContext>
    let stamping: APIMiddleware<BatonRequestContext>

    /// Whether a request with `head` is one this endpoint answers.
    func serves(_ head: HTTPRequest) -> Bool {
        guard head.method == .post, let path = head.path else { return false }
        return path == "/v1/messages" || path.hasPrefix("/v1/messages?")
    }

    /// The handler for one connection's pipeline.
    func handler(logger: Logger) -> MessageEndpointHandler {
        MessageEndpointHandler(endpoint: self, logger: logger)
    }
}
