import BatonCore
import Hummingbird
import NIOCore

/// `POST /v1/messages`: chat messages and chat commands.
struct MessagesController {
    let gateway: Gateway
    let parser: MessageRequestParser

    func register(on router: Router<BatonRequestContext>) {
        router.post("/v1/messages", use: post)
    }

    @Sendable func post(_ request: Request, context: BatonRequestContext) async throws -> Response {
        let body: ByteBuffer
        do {
            // One byte over the limit is enough to know it is too large.
            body = try await request.body.collect(upTo: parser.maxBodyBytes + 1)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "body is over limits.max_message_bytes (\(parser.maxBodyBytes))")
        }
        let incoming = try parser.parse(Array(buffer: body))
        let result: AcceptResult
        do {
            result = try await gateway.accept(incoming)
        } catch {
            throw APIError(.init(code: error.httpStatus), error.description)
        }
        switch result {
        case .acknowledged(let acknowledgement):
            return JSONBody.response(.accepted, acknowledgement)
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
}

private struct RestartingBody: Encodable {
    var status = "restarting"
    var inFlight: Int

    enum CodingKeys: String, CodingKey {
        case status
        case inFlight = "in_flight"
    }
}
