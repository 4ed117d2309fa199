import Foundation

/// The reply JSON both agent kinds may answer with: `{"text": "..."}`.
enum ReplyText {
    private struct Body: Decodable {
        var text: String
    }

    /// The `text` of a JSON object, or nil when the bytes are not such an object.
    static func decode(_ bytes: some Collection<UInt8>) -> String? {
        guard bytes.first(where: { !Self.isWhitespace($0) }) == UInt8(ascii: "{") else { return nil }
        return try? JSONDecoder().decode(Body.self, from: Data(bytes)).text
    }

    /// Plain text as a reply: the bytes as UTF-8 without trailing line ends; nil when blank.
    static func plain(_ bytes: some Collection<UInt8>) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        var end = text.endIndex
        while end > text.startIndex, text[text.index(before: end)].isNewline { end = text.index(before: end) }
        return String(text[..<end])
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
    }

    /// The largest reply an agent may send in one turn, in bytes.
    static let maxBytes = 1 << 20
}
