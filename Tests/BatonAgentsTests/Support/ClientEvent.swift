import Foundation

/// One event of a session's stream, as a client sees it.
struct ClientEvent: Sendable, Equatable {
    /// `reply`, `notice` or `goodbye`.
    var event: String
    /// A notice's kind (`error`, `interrupted`, …).
    var kind: String?
    var text: String?
    /// A reply's message.
    var inReplyTo: String?
    /// A notice's message.
    var message: String?

    private struct Payload: Decodable {
        var kind: String?
        var text: String?
        var in_reply_to: String?
        var message: String?
    }

    init(event: String, data: String) {
        self.event = event
        let payload = try? JSONDecoder().decode(Payload.self, from: Data(data.utf8))
        kind = payload?.kind
        text = payload?.text
        inReplyTo = payload?.in_reply_to
        message = payload?.message
    }

    func isReply(to message: String) -> Bool { event == "reply" && inReplyTo == message }

    func isNotice(_ kind: String, about message: String) -> Bool {
        event == "notice" && self.kind == kind && self.message == message
    }
}
