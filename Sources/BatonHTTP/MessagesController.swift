import BatonCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// `POST /v1/messages`: chat messages and chat commands.
///
/// Served two ways, with one answer: by ``MessageEndpoint`` on the connection's event
/// loop, and through the router when a request arrives behind another on the same
/// connection that the router is still answering (HTTP/1.1 answers in order).
struct MessagesController {
    let gateway: Gateway
    let parser: MessageRequestParser
    /// Counts messages refused because their caller may not speak for their user.
    var access: AccessMetrics?

    /// A response to a message, whichever way the request came.
    struct Answer {
        var status: HTTPResponse.Status
        var body: ByteBuffer
        var headers: HTTPFields = [:]

        init(status: HTTPResponse.Status, body: ByteBuffer, headers: HTTPFields = [:]) {
            self.status = status
            self.body = body
            self.headers = headers
        }

        init(_ error: APIError) {
            self.init(status: error.status, body: error.body, headers: error.headers)
        }
    }

    func register(on router: Router<BatonRequestContext>) {
        router.post("/v1/messages", use: post)
    }

    @Sendable func post(_ request: Request, context: BatonRequestContext) async throws -> Response {
        let body: Result<ByteBuffer, APIError>
        if let refusal = Self.unsupportedCoding(request.headers) {
            body = .failure(refusal)
        } else {
            do {
                // One byte over the limit is enough to know it is too large.
                body = .success(try await request.body.collect(upTo: parser.maxBodyBytes + 1))
            } catch is NIOTooManyBytesError {
                body = .failure(tooLarge)
            } catch {
                body = .failure(Self.brokenBody)
            }
        }
        let answer = await answer(to: body, caller: context.caller, logger: context.logger)
        return JSONBody.response(answer.status, body: answer.body, headers: answer.headers)
    }

    /// The answer to a message whose body is `body` (or what was wrong with reading it),
    /// from `caller`.
    func answer(to body: Result<ByteBuffer, APIError>, caller: Caller, logger: Logger) async -> Answer {
        do {
            return try await accept(body, caller: caller, logger: logger)
        } catch {
            return Answer(error)
        }
    }

    private func accept(_ body: Result<ByteBuffer, APIError>, caller: Caller, logger: Logger) async throws(APIError) -> Answer {
        let incoming: IncomingMessage
        do {
            incoming = try parser.parse(Array(buffer: body.get()))
        } catch {
            gateway.metrics.messageRejected(error.status == .contentTooLarge ? .tooLarge : .invalid)
            throw error
        }
        try vouch(for: incoming, caller: caller, logger: logger)
        let result: AcceptResult
        do {
            result = try await gateway.accept(incoming)
        } catch {
            throw APIError(error)
        }
        switch result {
        case .acknowledged(let acknowledgement):
            return Answer(status: .accepted, body: ByteBuffer(bytes: acknowledgement.json))
        case .restarting(let inFlight):
            return Answer(status: .accepted, body: JSONBody.encode(RestartingBody(inFlight: inFlight)))
        case .answered(let session):
            return Answer(status: .accepted, body: JSONBody.encode(["session": session, "status": "answered"]))
        case .rejected(let reason):
            // A drain ends within drain.timeout; a busy turn is worth retrying sooner.
            let retryAfter = reason == .draining ? "5" : "1"
            return Answer(
                status: .serviceUnavailable, body: JSONBody.encode(["status": "rejected", "reason": reason.rawValue]),
                headers: [.retryAfter: retryAfter])
        }
    }

    /// Refuses with 403, storing nothing, a message whose caller may not speak for its
    /// user; logs the admin commands it lets through with the token that sent them.
    private func vouch(for incoming: IncomingMessage, caller: Caller, logger: Logger) throws(APIError) {
        // Built only for the two that are logged, not for every message.
        var metadata: Logger.Metadata { ["baton.session": "\(incoming.session)", "baton.user": "\(incoming.user)"] }
        if let refusal = caller.refusal(of: incoming) {
            access?.impersonationRejected(caller)
            logger.warning("Refused a message for a user its caller may not speak for", metadata: metadata)
            throw APIError(.forbidden, refusal)
        }
        if ChatCommand(text: incoming.text)?.needsAdmin == true {
            let command = incoming.text.trimmingWhiteSpace
            logger.info("Admin command", metadata: metadata.merging(["baton.command": "\(command)"]) { $1 })
        }
    }

    /// The 400 for a body under a transfer coding other than `chunked`, which the HTTP/1
    /// decoder leaves in place: it would be read as if it were plain.
    static func unsupportedCoding(_ headers: HTTPFields) -> APIError? {
        let codings = headers[values: .transferEncoding].flatMap { $0.split(separator: ",") }
        guard codings.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).lowercased() == "chunked" }) else {
            return APIError(.badRequest, "Transfer-Encoding \(codings.joined(separator: ",")) is not supported; send the body plain or chunked")
        }
        return nil
    }

    /// The 413 for a body longer than a message may be.
    var tooLarge: APIError {
        APIError(.contentTooLarge, "body is over limits.max_message_bytes (\(parser.maxBodyBytes))")
    }

    /// The client's fault, not the server's: its connection ended inside the body, or the
    /// body's chunks were malformed.
    static let brokenBody = APIError(.badRequest, "the body could not be read: it ended early or its framing is broken")
}

private struct RestartingBody: Encodable {
    var status = "restarting"
    var inFlight: Int

    enum CodingKeys: String, CodingKey {
        case status
        case inFlight = "in_flight"
    }
}
