extension StringProtocol {
    /// Whether the text is empty or only white space (Unicode `White_Space`): what a
    /// person would call an empty message. Reads the scalars in place, without the copy
    /// that trimming makes.
    public var isBlank: Bool {
        unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }
}

extension String {
    /// The text without white space at either end, sharing this string's storage.
    public var trimmingWhiteSpace: Substring {
        let text = Substring(self)
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return text[text.endIndex...] }
        return Substring(scalars[first...last])
    }
}
