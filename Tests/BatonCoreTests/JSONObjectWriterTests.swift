@testable import BatonCore
import Foundation
import Testing

/// The hand-written bodies are the bytes `JSONEncoder` would write: clients and stored
/// events see one wire format.
struct JSONObjectWriterTests {
    /// Every ASCII character, and text that JSON encoders treat each their own way.
    static let texts: [String] =
        (0..<128).map { String(UnicodeScalar(UInt8($0))) } + [
            "", "plain", #"quote " and back\slash"#, "a/b </script>", "tab\tnew\nline\r\u{8}\u{c}",
            "\u{0}\u{1f}\u{7f}", "é ü 日本語", "emoji 👍🏽", "\u{2028}\u{2029}", "\u{FEFF}bom", String(repeating: "long ", count: 500),
        ]

    @Test func acknowledgementsAreWrittenAsJSONEncoderWritesThem() throws {
        for (index, text) in Self.texts.enumerated() {
            for status in [Acknowledgement.Status.accepted, .queued] {
                let acknowledgement = Acknowledgement(id: "id-\(text)", session: text, status: status, position: index - 3)
                let expected = try WireFormat.encoder.encode(acknowledgement)
                #expect(acknowledgement.json == Array(expected), "\(text.debugDescription)")
            }
        }
    }

    @Test func repliesAreWrittenAsJSONEncoderWritesThem() throws {
        for text in Self.texts {
            let reply = ReplyPayload(id: "m.1", inReplyTo: "m\(text)", text: text)
            let expected = String(decoding: try WireFormat.encoder.encode(reply), as: UTF8.self)
            #expect(reply.json == expected, "\(text.debugDescription)")
        }
    }

    @Test func noticesAreWrittenAsJSONEncoderWritesThem() throws {
        for (index, text) in Self.texts.enumerated() {
            let kind = [NoticeKind.queued, .draining, .interrupted, .restarted, .error][index % 5]
            let message: String? = index % 2 == 0 ? "m\(text)" : nil
            let position: Int? = index % 3 == 0 ? nil : index - 7
            let notice = NoticePayload(kind: kind, text: text, message: message, position: position, instance: "i\(text)")
            let expected = String(decoding: try WireFormat.encoder.encode(notice), as: UTF8.self)
            #expect(notice.json == expected, "\(text.debugDescription)")
        }
    }
}
