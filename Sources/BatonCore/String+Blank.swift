extension StringProtocol {
    /// Whether the text is empty or only white space (Unicode `White_Space`): what a
    /// person would call an empty message. Reads the scalars in place, without the copy
    /// that trimming makes.
    public var isBlank: Bool {
        unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }

    /// The text without white space at either end.
    public var trimmingWhiteSpace: Substring.UnicodeScalarView {
        let scalars = Substring(self).unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return scalars[scalars.endIndex...] }
        return scalars[first...last]
    }
}
