import Hummingbird

extension Parameters {
    /// The path parameter `name` as the client meant it: percent-decoded, as a URL carries
    /// a session or user name with a space, `?`, `#` or `%` in it (`team%20chat` is
    /// `team chat`). A parameter that is not valid percent-encoding of UTF-8 (a `%` without
    /// two hex digits after it) is refused with a 400 naming it.
    func requireDecoded(_ name: String) throws -> String {
        let raw = try require(name)
        guard Self.isPercentEncoded(raw), let decoded = raw.removingPercentEncoding else {
            throw APIError(.badRequest, "The \(name) in the path is not valid percent-encoding: \"\(raw)\"")
        }
        return decoded
    }

    /// Whether every `%` in `text` starts an escape: two hex digits after it.
    private static func isPercentEncoded(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.count, bytes[(index + 1)...(index + 2)].allSatisfy(\.isHexDigit) else { return false }
                index += 3
            } else {
                index += 1
            }
        }
        return true
    }
}

extension UInt8 {
    fileprivate var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
