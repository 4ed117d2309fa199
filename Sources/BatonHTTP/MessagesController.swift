import BatonCore
import Foundation
import Hummingbird
import Logging
import NIOCore

/// `POST /v1/messages`: chat messages and chat commands.
struct MessagesController {
    let gateway: Gateway
    let parser: MessageRequestParser
    /// Counts messages refused because their caller may not speak for their user.
    var access: AccessMetrics?

    func register(on router: Router<BatonRequestContext>) {
        router.post("/v1/messages", use: post)
    }

    @Sendable func post(_ request: Request, context: BatonRequestContext) async throws -> Response {
        let incoming: IncomingMessage
        do {
            incoming = try await message(in: request)
        } catch {
            gateway.metrics.messageRejected(error.status == .contentTooLarge ? .tooLarge : .invalid)
            throw error
        }
        try vouch(for: incoming, caller: context.caller, logger: context.logger)
        let result: AcceptResult
        do {
            result = try await gateway.accept(incoming)
        } catch {
            throw APIError(.init(code: error.httpStatus), error.description)
        }
        switch result {
        case .acknowledged(let acknowledgement):
            return JSONBody.response(.accepted, body: ByteBuffer(bytes: acknowledgement.json))
        case .restarting(let inFlight):
            return JSONBody.response(.accepted, RestartingBody(inFlight: inFlight))
        case .answered(let session):
            return JSONBody.response(.accepted, ["session": session, "status": "answered"])
        case .rejected(let reason):
            // A drain ends within drain.timeout; a busy turn is worth retrying sooner.
            let retryAfter = reason == .draining ? "5" : "1"
            return JSONBody.response(.serviceUnavailable, ["status": "rejected", "reason": reason.rawValue], headers: [.retryAfter: retryAfter])
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

    /// The message the body holds, or the 400 or 413 saying what is wrong with it.
    private func message(in request: Request) async throws(APIError) -> IncomingMessage {
        // The HTTP/1 decoder undoes `chunked` alone: a body under any other transfer
        // coding (`gzip, chunked`) would be read as if it were plain.
        let codings = request.headers[values: .transferEncoding].flatMap { $0.split(separator: ",") }
        guard codings.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).lowercased() == "chunked" }) else {
            throw APIError(.badRequest, "Transfer-Encoding \(codings.joined(separator: ",")) is not supported; send the body plain or chunked")
        }
        let body: ByteBuffer
        do {
            // One byte over the limit is enough to know it is too large.
            body = try await request.body.collect(upTo: parser.maxBodyBytes + 1)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "body is over limits.max_message_bytes (\(parser.maxBodyBytes))")
        } catch {
            // The client's fault, not the server's: its connection ended inside the body,
            // or the body's chunks were malformed.
            throw APIError(.badRequest, "the body could not be read: it ended early or its framing is broken")
        }
        return try parser.parse(Array(buffer: body))
    }
}

private struct RestartingBody: Encodable {
    var status = "restarting"
    var inFlight: Int

    enum CodingKeys: String, CodingKey {
        case status
        case inFlight = "in_flight"
    }
}
