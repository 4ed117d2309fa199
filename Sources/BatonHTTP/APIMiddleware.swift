import BatonCore
import Hummingbird

/// Stamps every response with `Baton-Instance` and answers every error as
/// `{"error": "..."}`, including the router's own 404 and 405.
///
/// Once the gateway drains, every response also says `Connection: close`, and the
/// connection closes after it (``RequestProgressHandler``). A client then sends its next
/// request on a new connection, which the next process accepts from the socket it
/// inherits, rather than on a kept-alive one this process is about to close: closing an
/// idle connection races a request sent on it at that moment (RFC 9112 §9.6), and under
/// load every client would lose that race once per restart.
struct APIMiddleware<Context: RequestContext>: RouterMiddleware {
    let instance: String
    /// Whether to close each connection after its response.
    let closesConnections: @Sendable () -> Bool

    init(instance: String, closesConnections: @escaping @Sendable () -> Bool = { false }) {
        self.instance = instance
        self.closesConnections = closesConnections
    }

    /// Stamps responses with `gateway`'s instance and closes connections once it drains.
    init(gateway: Gateway) {
        self.init(instance: gateway.instance, closesConnections: { gateway.isDraining })
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response()
        } catch let error as HTTPError {
            response = APIError(error.status, Self.message(for: error, request: request), headers: error.headers).response()
        } catch {
            context.logger.error("Unexpected error", metadata: ["baton.error": "\(error)"])
            response = APIError(.internalServerError, "internal error").response()
        }
        stamp(&response.headers)
        return response
    }

    /// Names the instance, and says `Connection: close` once the gateway drains: what
    /// every response gets, from the router or from ``MessageEndpoint``.
    func stamp(_ headers: inout HTTPFields) {
        headers[.batonInstance] = instance
        if closesConnections() { headers[.connection] = "close" }
    }

    private static func message(for error: HTTPError, request: Request) -> String {
        switch error.status {
        case .notFound: "no such endpoint: \(request.method) \(request.uri.path)"
        case .methodNotAllowed: "\(request.method) is not allowed on \(request.uri.path)"
        case .contentTooLarge: "request body is too large"
        default: error.body ?? error.status.reasonPhrase
        }
    }
}
