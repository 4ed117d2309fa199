/// Writes a flat JSON object byte for byte as ``WireFormat/encoder`` would (keys sorted,
/// `/` not escaped), for the bodies of the message path: an acknowledgement, a reply, a
/// notice (a message queued behind others gets one). `JSONEncoder` cost more for those
/// than storing them did.
///
/// Callers add the keys in sorted order; `Tests/BatonCoreTests/JSONObjectWriterTests`
/// checks the output against `JSONEncoder`'s.
public struct JSONObjectWriter {
    private(set) var bytes: [UInt8]

    public init(capacity: Int = 128) {
        bytes = [UInt8(ascii: "{")]
        bytes.reserveCapacity(capacity)
    }

    public mutating func add(_ key: StaticString, _ value: String) {
        addKey(key)
        Self.appendQuoted(value, to: &bytes)
    }

    public mutating func add(_ key: StaticString, _ value: Int) {
        addKey(key)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// The object, closed.
    public consuming func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    private mutating func addKey(_ key: StaticString) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: "\":".utf8)
    }

    /// `value` as a JSON string: `"` and `\` escaped, control characters as `JSONEncoder`
    /// writes them, everything else as UTF-8.
    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        defer { bytes.append(UInt8(ascii: "\"")) }
        var value = value
        value.withUTF8 { utf8 in appendEscaped(utf8, to: &bytes) }
    }

    /// The UTF-8 of a string between its quotes, escaped, read from its contiguous storage.
    private static func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        // Most values (ids, session names, plain text) need no escape: copied at once.
        if utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: utf8)
            return
        }
        for byte in utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case 0x08: bytes.append(contentsOf: #"\b"#.utf8)
            case 0x0C: bytes.append(contentsOf: #"\f"#.utf8)
            case 0x0A: bytes.append(contentsOf: #"\n"#.utf8)
            case 0x0D: bytes.append(contentsOf: #"\r"#.utf8)
            case 0x09: bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
    }
}

extension Acknowledgement {
    /// This acknowledgement as the JSON body of a 202.
    public var json: [UInt8] {
        var writer = JSONObjectWriter()
        writer.add("id", id)
        writer.add("position", position)
        writer.add("session", session)
        writer.add("status", status.rawValue)
        return writer.finish()
    }
}

extension ReplyPayload {
    /// The data of a `reply` event.
    var json: String {
        var writer = JSONObjectWriter(capacity: 64 + text.utf8.count)
        writer.add("id", id)
        writer.add("in_reply_to", inReplyTo)
        writer.add("text", text)
        return String(decoding: writer.finish(), as: UTF8.self)
    }
}

extension NoticePayload {
    /// The data of a `notice` event (a message queued behind others gets one).
    var json: String {
        var writer = JSONObjectWriter(capacity: 96 + text.utf8.count)
        writer.add("instance", instance)
        writer.add("kind", kind.rawValue)
        if let message { writer.add("message", message) }
        if let position { writer.add("position", position) }
        writer.add("text", text)
        return String(decoding: writer.finish(), as: UTF8.self)
    }
}
