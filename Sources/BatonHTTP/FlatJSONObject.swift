/// Reads the JSON object every message body is: string (or `null`) values under distinct
/// keys, straight from the bytes.
///
/// Anything else (a number, a nested value, a duplicate key, a surrogate escape, a trailing
/// comma, malformed JSON) gives nil, and the caller reads the body with `JSONSerialization`,
/// which answers those with the same result or error as always. So this reader only has
/// to be right for what it accepts; `FlatJSONObjectTests` checks it against
/// `JSONSerialization` on every body it reads. The body must be valid UTF-8 already.
enum FlatJSONObject {
    /// A member's value: a string, or `null` (nil).
    typealias Members = [String: String?]

    static func read(_ bytes: [UInt8]) -> Members? {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer)
            return reader.object()
        }
    }

    private struct Reader {
        static let null = Array("null".utf8)
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        mutating func object() -> Members? {
            skipWhiteSpace()
            guard take(UInt8(ascii: "{")) else { return nil }
            var members: Members = [:]
            skipWhiteSpace()
            if take(UInt8(ascii: "}")) { return end(members) }
            while true {
                skipWhiteSpace()
                guard take(UInt8(ascii: "\"")), let key = string() else { return nil }
                skipWhiteSpace()
                guard take(UInt8(ascii: ":")) else { return nil }
                skipWhiteSpace()
                let value: String?
                if take(UInt8(ascii: "\"")) {
                    guard let text = string() else { return nil }
                    value = text
                } else if take(Self.null) {
                    value = nil
                } else {
                    return nil
                }
                guard members.updateValue(value, forKey: key) == nil else { return nil }
                skipWhiteSpace()
                if take(UInt8(ascii: "}")) { return end(members) }
                guard take(UInt8(ascii: ",")) else { return nil }
            }
        }

        /// `members` when only white space follows the object.
        private mutating func end(_ members: Members) -> Members? {
            skipWhiteSpace()
            return index == bytes.count ? members : nil
        }

        /// The rest of a string whose opening quote was read, up to its closing quote.
        private mutating func string() -> String? {
            var text: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return String(decoding: text, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escape)
                    case UInt8(ascii: "b"): text.append(0x08)
                    case UInt8(ascii: "f"): text.append(0x0C)
                    case UInt8(ascii: "n"): text.append(0x0A)
                    case UInt8(ascii: "r"): text.append(0x0D)
                    case UInt8(ascii: "t"): text.append(0x09)
                    case UInt8(ascii: "u"):
                        // Surrogates (pairs or lone halves) are left to JSONSerialization.
                        guard let value = hexQuad(), let scalar = Unicode.Scalar(value) else { return nil }
                        text.append(contentsOf: String(scalar).utf8)
                    default:
                        return nil
                    }
                case 0..<0x20:
                    return nil  // a control character must be escaped
                default:
                    text.append(byte)
                }
            }
            return nil
        }

        private mutating func hexQuad() -> UInt32? {
            guard index + 4 <= bytes.count else { return nil }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: return nil
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        private mutating func skipWhiteSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): index += 1
                default: return
                }
            }
        }

        private mutating func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        private mutating func take(_ word: [UInt8]) -> Bool {
            guard bytes.count - index >= word.count, bytes[index..<index + word.count].elementsEqual(word) else { return false }
            index += word.count
            return true
        }
    }
}
