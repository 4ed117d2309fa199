import BatonCore
import Hummingbird

/// An error answered to an HTTP client as `{"error": "..."}` with its status.
public struct APIError: HTTPResponseError, CustomStringConvertible {
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// The answer to a request the gateway refused.
    public init(_ error: GatewayError) {
        self.init(.init(code: error.httpStatus), error.description)
    }

    public var description: String { "\(status.code) \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response()
    }

    /// The JSON response for this error: written by ``JSONObjectWriter``, as cheap as a
    /// 202's body, so a flood of bad requests costs no more than good ones.
    public func response() -> Response {
        JSONBody.response(status, body: body, headers: headers)
    }

    /// The JSON body, `{"error": "..."}`.
    var body: ByteBuffer {
        var body = JSONObjectWriter(capacity: message.utf8.count + 16)
        body.add("error", message)
        return ByteBuffer(bytes: body.finish())
    }
}
