extension StringProtocol {
    /// Whether the text is empty or only white space (Unicode `White_Space`): what a
    /// person would call an empty message. Reads the scalars in place, without the copy
    /// that trimming makes.
    public var isBlank: Bool {
        unicodeScalars.allSatisfy(\.isWhiteSpace)
    }
}

extension String {
    /// The text without white space at either end, sharing this string's storage.
    public var trimmingWhiteSpace: Substring {
        let text = Substring(self)
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isWhiteSpace }),
            let last = scalars.lastIndex(where: { !$0.isWhiteSpace })
        else { return text[text.endIndex...] }
        return Substring(scalars[first...last])
    }
}

extension Unicode.Scalar {
    /// Unicode `White_Space`. ASCII, what nearly every message starts and ends with, is
    /// answered here; only other scalars look the property up in the Unicode tables.
    var isWhiteSpace: Bool {
        isASCII ? value == 0x20 || (0x09...0x0D).contains(value) : properties.isWhitespace
    }
}

extension String {
    /// The text with each U+0000 (NUL) replaced by U+FFFD: PostgreSQL's text cannot hold
    /// NUL, so text Baton cannot refuse (a chat network's message, an agent's reply) is
    /// stored so in every store. The string itself when it has none, as nearly all do.
    public var replacingNUL: String {
        guard utf8.contains(0) else { return self }
        return String(unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : Character($0) })
    }
}
