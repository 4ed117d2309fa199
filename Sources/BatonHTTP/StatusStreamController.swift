import BatonCore
import Foundation
import Hummingbird

/// `GET /v1/status/events`: `/v1/status` as Server-Sent Events, so that a page can watch
/// the gateway without polling.
///
/// One `status` event at once, then one on every change (a reader that lags gets the
/// newest only), and a comment every 15 s (``StreamKeepAlive``). The seconds a drain has left are counted down by the reader from the
/// last event. The stream ends when the process stops; the next process's stream
/// starts again with its own status, which tells the reader the instance changed.
struct StatusStreamController {
    let gateway: Gateway

    func register(on router: Router<BatonRequestContext>) {
        router.get("/v1/status/events", use: stream)
    }

    @Sendable func stream(_ request: Request, context: BatonRequestContext) async throws -> Response {
        let updates = await gateway.statusUpdates()
        let body = ResponseBody { writer in
            // Cancelled when the client goes away, rather than holding its connection until
            // the next change of status.
            try await request.body.consumeWithCancellationOnInboundClose { _ in
                try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
                try await StreamKeepAlive.merging(updates, bufferLimit: 2) { updates in
                    for await status in updates {
                        try await writer.write(status.map(Self.frame) ?? StreamKeepAlive.comment)
                    }
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body)
    }

    static func frame(_ status: GatewayStatus) -> ByteBuffer {
        let data = (try? WireFormat.encoder.encode(status)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ByteBuffer(string: "event: status\ndata: \(data)\n\n")
    }
}
