import BatonCore
import Foundation

/// Sends a room's stored replies and notices to Matrix: replies as `m.text` replying to
/// the message they answer, notices as `m.notice`.
///
/// The transaction id is derived from the stored event, so a send repeated after a crash
/// is the same event to the homeserver (which keeps transaction ids per device).
struct MatrixOutbox: ChatOutbox {
    let client: MatrixClient
    let typing: MatrixTyping
    let metrics: MatrixMetrics

    var network: String { MatrixNetwork.name }

    func owns(session: String) -> Bool { MatrixIdentifier.isRoomID(session) }

    var sessionPrefix: String { "!" }

    /// The fields of reply and notice payloads a room shows.
    private struct Payload: Decodable {
        var text: String
        /// A reply's message.
        var inReplyTo: String?
        /// A notice's message.
        var message: String?

        enum CodingKeys: String, CodingKey {
            case text, message
            case inReplyTo = "in_reply_to"
        }
    }

    func deliver(_ event: SessionEvent) async throws(ChatDeliveryError) {
        let payload: Payload
        do {
            payload = try JSONDecoder().decode(Payload.self, from: Data(event.data.utf8))
        } catch {
            throw ChatDeliveryError(.skip, "stored event \(event.id) is not a reply or notice: \(error)")
        }
        // Only Matrix event ids can be replied to; a message posted over HTTP has another id.
        let answered = (payload.inReplyTo ?? payload.message).flatMap { $0.hasPrefix("$") ? $0 : nil }
        let content = MatrixMessageContent(msgtype: event.kind == .reply ? "m.text" : "m.notice", body: payload.text, inReplyTo: answered)
        do {
            _ = try await client.send(content, to: event.session, transactionID: Self.transactionID(for: event))
            metrics.delivered(event.kind)
        } catch {
            metrics.retried(.send)
            if error.isPermanent { throw ChatDeliveryError(.skip, error.description) }
            if error.isUnauthorized { throw ChatDeliveryError(.retry(after: .seconds(60)), error.description) }
            throw ChatDeliveryError(.retry(after: error.retryAfter), error.description)
        }
    }

    func caughtUp(session: String) async {
        await typing.caughtUp(in: session)
    }

    /// `baton-<event id>-<hash>`: the event id is unique in its session, and the hash of
    /// the session and the payload keeps two stores (a state directory started afresh)
    /// from reusing one another's ids.
    static func transactionID(for event: SessionEvent) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in event.session.utf8 + [0] + event.data.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return "baton-\(event.id)-\(String(hash, radix: 16))"
    }
}
