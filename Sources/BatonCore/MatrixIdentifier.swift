/// The shapes of Matrix identifiers Baton checks in its configuration and session ids.
public enum MatrixIdentifier {
    /// `@localpart:server`.
    public static func isUserID(_ text: String) -> Bool { hasShape(text, sigil: "@") }

    /// `!opaque:server`, or `!opaque` since room version 12 — a room id, which is also the
    /// session id of the room's chat.
    public static func isRoomID(_ text: String) -> Bool {
        text.first == "!" && text.count > 1 && !text.contains(where: \.isWhitespace)
    }

    /// A room id or a `#alias:server`.
    public static func isRoomIDOrAlias(_ text: String) -> Bool { isRoomID(text) || hasShape(text, sigil: "#") }

    private static func hasShape(_ text: String, sigil: Character) -> Bool {
        guard text.first == sigil, let colon = text.firstIndex(of: ":") else { return false }
        let local = text[text.index(after: text.startIndex)..<colon]
        let server = text[text.index(after: colon)...]
        return !local.isEmpty && !server.isEmpty && !text.contains(where: \.isWhitespace)
    }
}
