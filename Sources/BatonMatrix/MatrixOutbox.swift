import BatonCore
import Foundation

/// Sends a room's stored replies and notices to Matrix: replies as `m.text` replying to
/// the message they answer, notices as `m.notice`, in the message's thread when it was
/// written in one. A text too long for one Matrix event goes in parts, in order; the
/// first is the reply.
///
/// The transaction id is derived from the stored event (and the part), so a send repeated
/// after a crash is the same event to the homeserver (which keeps transaction ids per
/// device).
struct MatrixOutbox: ChatOutbox {
    let client: MatrixClient
    let typing: MatrixTyping
    let threads: MatrixThreads
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
        do {
            var thread: String?
            if let answered { thread = try await threads.root(of: answered, in: event.session) }
            for (number, part) in Self.parts(of: payload.text).enumerated() {
                let content = MatrixMessageContent(
                    msgtype: event.kind == .reply ? "m.text" : "m.notice", body: String(part), inReplyTo: answered, threadRoot: thread,
                    isReply: number == 0)
                _ = try await client.send(content, to: event.session, transactionID: Self.transactionID(for: event, part: number))
            }
            metrics.delivered(event.kind)
        } catch {
            throw disposition(of: error)
        }
    }

    /// What a failed send means for its event: skipped only when the homeserver refused
    /// this event or its room; anything else (the account refused, the homeserver away or
    /// in maintenance) holds the event, and every one after it, until the homeserver takes it.
    private func disposition(of error: MatrixError) -> ChatDeliveryError {
        if error.isRefusalOfThisRequest { return ChatDeliveryError(.skip, "refused for this event or room: \(error)") }
        metrics.retried(.send)
        if error.isUnauthorized { return ChatDeliveryError(.retry(after: .seconds(60)), "\(error); check matrix.access_token") }
        if error.isRefusal { return ChatDeliveryError(.retry(after: error.retryAfter), "held until the homeserver takes it: \(error)") }
        return ChatDeliveryError(.retry(after: error.retryAfter), error.description)
    }

    func caughtUp(session: String) async {
        await typing.caughtUp(in: session)
    }

    /// `baton-<event id>-<hash>`, then `-<part>` from the second part on: the event id is
    /// unique in its session, and the hash of the session and the payload keeps two stores
    /// (a state directory started afresh) from reusing one another's ids.
    static func transactionID(for event: SessionEvent, part: Int = 0) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in event.session.utf8 + [0] + event.data.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let id = "baton-\(event.id)-\(String(hash, radix: 16))"
        return part == 0 ? id : "\(id)-\(part + 1)"
    }

    /// Most bytes of one part's text once JSON escapes it: a homeserver refuses an event
    /// over 65,536 bytes, and the event has fields of its own besides the text.
    static let maxPartBytes = 48 * 1024

    /// `text` in parts of at most `maxBytes` (as JSON escapes them), in order: each cut
    /// after a line end when one is in the part's second half, else between characters.
    /// One part when the text fits, as nearly every text does.
    static func parts(of text: String, maxBytes: Int = maxPartBytes) -> [Substring] {
        var parts: [Substring] = []
        var start = text.startIndex
        var index = start
        var size = 0
        /// Where the part's last line ended, and its size up to there.
        var lineEnd: (index: String.Index, size: Int)?
        while index < text.endIndex {
            let character = text[index]
            let bytes = character.utf8.reduce(0) { $0 + Self.escapedSize(of: $1) }
            if size + bytes > maxBytes, index > start {
                let cut = lineEnd.flatMap { $0.size >= maxBytes / 2 ? $0.index : nil } ?? index
                parts.append(text[start..<cut])
                (start, index, size, lineEnd) = (cut, cut, 0, nil)
                continue
            }
            size += bytes
            index = text.index(after: index)
            if character.isNewline { lineEnd = (index, size) }
        }
        parts.append(text[start...])
        return parts
    }

    /// A byte's size in a JSON string: `\n`, `\"` and their like take two, other control
    /// characters six (`\u0001`).
    private static func escapedSize(of byte: UInt8) -> Int {
        switch byte {
        case 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x22, 0x5C: 2
        case ..<0x20: 6
        default: 1
        }
    }
}
