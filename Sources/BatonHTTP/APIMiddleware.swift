import Hummingbird

/// Stamps every response with `Baton-Instance` and answers every error as
/// `{"error": "..."}`, including the router's own 404 and 405.
struct APIMiddleware<Context: RequestContext>: RouterMiddleware {
    let instance: String

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
        response.headers[.batonInstance] = instance
        return response
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
