import Foundation

/// Reads ``APIToken`` entries from the three places tokens come from: the `api_tokens`
/// list, the `BATON_API_TOKENS` variable, and a token file (`api_tokens_file`, or the
/// systemd credential `api-tokens`). Each entry is checked on its own here; that names
/// and tokens are unique across all of them is the loader's to check.
enum APITokenParser {
    typealias Problem = ConfigurationKey.Problem

    /// Shortest token accepted: guessing one must stay out of reach.
    static let minimumLength = 16
    /// The keys of an entry written as a mapping.
    static let entryKeys = ["token", "users", "name"]

    /// A YAML list whose entries are plain tokens or `{token, users, name}` mappings.
    static func parse(yaml value: Any) throws(Problem) -> [APIToken] {
        guard let entries = value as? [Any] else {
            throw Problem("must be a list; each entry a token, or {token: \"...\", users: [bob], name: bob}")
        }
        var tokens: [APIToken] = []
        for (index, entry) in entries.enumerated() {
            tokens.append(try parse(entry: entry, label: "entry \(index + 1)"))
        }
        return tokens
    }

    /// Comma-separated plain tokens, as in `BATON_API_TOKENS`.
    static func parse(environment text: String) throws(Problem) -> [APIToken] {
        var tokens: [APIToken] = []
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        // Set but empty (a placeholder left in a unit, say) would turn the tokens of the
        // file off without a word, and with them authentication.
        guard !entries.isEmpty else {
            throw Problem("is set but holds no token; give tokens separated by commas, or unset it to use the file's api_tokens")
        }
        for (index, entry) in entries.enumerated() {
            tokens.append(APIToken(try secret(entry, label: "entry \(index + 1)")))
        }
        return tokens
    }

    /// A token file: a YAML list like `api_tokens`, or else plain tokens one per line
    /// (blank lines and lines starting with `#` are skipped).
    ///
    /// A file with no token at all is refused: named to hold the tokens, it would leave
    /// the API without any (and so without authentication) if provisioning wrote nothing.
    static func parse(file text: String) throws(Problem) -> [APIToken] {
        let tokens = try parseEntries(file: text)
        guard !tokens.isEmpty else {
            throw Problem("holds no token (nothing but blank lines and comments); add the tokens, or stop naming the file")
        }
        return tokens
    }

    private static func parseEntries(file text: String) throws(Problem) -> [APIToken] {
        if let list = (try? YAMLDocument.load(text)) as? [Any] {
            return try parse(yaml: list)
        }
        var tokens: [APIToken] = []
        // Any line ending: in Swift "\r\n" is one character, which a split on "\n" misses.
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { continue }
            let label = "line \(index + 1)"
            guard !trimmed.contains(where: \.isWhitespace) else {
                throw Problem(
                    "\(label) holds more than one word; a token is one word. To give tokens users or names, write the file as a YAML list like api_tokens")
            }
            tokens.append(APIToken(try secret(trimmed, label: label)))
        }
        return tokens
    }

    private static func parse(entry: Any, label: String) throws(Problem) -> APIToken {
        if let plain = entry as? String {
            return APIToken(try secret(plain, label: label))
        }
        try refuseNumber(entry, what: "a token", label: label)
        guard let fields = entry as? [String: Any] else {
            throw Problem("\(label) must be a token, or a mapping with token, users and name")
        }
        for key in fields.keys.sorted() where !entryKeys.contains(key) {
            let nearest = entryKeys.min { editDistance($0, key) < editDistance($1, key) } ?? "token"
            throw Problem("\(label) has an unknown key \"\(key)\"; did you mean \(nearest)? (an entry has token, users and name)")
        }
        try refuseNumber(fields["token"] as Any, what: "token", label: label)
        guard let token = fields["token"] as? String else {
            throw Problem("\(label) needs token: the bearer token itself, as a string")
        }
        var users: [String]?
        if let value = fields["users"] {
            users = try parse(users: value, label: label)
        }
        var name: String?
        if let value = fields["name"] {
            name = try parse(name: value, label: label)
        }
        return APIToken(try secret(token, label: label), users: users, name: name)
    }

    /// YAML reads an unquoted `0x5eed…`, `0123…` or `1_000` as a number, whose text is no
    /// longer what was written: a token or a name must be quoted then.
    private static func refuseNumber(_ value: Any, what: String, label: String) throws(Problem) {
        guard value is Int || value is Double else { return }
        throw Problem("\(label): \(what) reads as a number in YAML (\(value)); put it in quotes so it stays as written")
    }

    /// A token that can be sent as `Authorization: Bearer <token>` and is not guessable
    /// by length alone.
    private static func secret(_ token: String, label: String) throws(Problem) -> String {
        guard token.count >= minimumLength else {
            throw Problem("\(label): each token must be at least \(minimumLength) characters long")
        }
        guard !token.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) else {
            throw Problem("\(label): a token must not contain white space or control characters")
        }
        return token
    }

    private static func parse(users value: Any, label: String) throws(Problem) -> [String] {
        guard let list = value as? [Any] else {
            throw Problem("\(label): users must be a list of chat users, like [alice, bob]")
        }
        for user in list { try refuseNumber(user, what: "a user", label: label) }
        let users = list.compactMap { $0 as? String }
        guard users.count == list.count, !users.contains(where: \.isEmpty) else {
            throw Problem("\(label): users must be a list of chat user names")
        }
        guard !users.isEmpty else {
            throw Problem("\(label): users is empty, so the token could speak for no one; leave users out for a trusted front end that speaks for anyone")
        }
        return users
    }

    /// Names show in metric labels and journal fields: plain characters only.
    private static func parse(name value: Any, label: String) throws(Problem) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")
        try refuseNumber(value, what: "name", label: label)
        guard let name = value as? String, (1...64).contains(name.count),
            name.allSatisfy(allowed.contains)
        else {
            throw Problem("\(label): name must be 1 to 64 letters, digits, '.', '_', '-' or '@', like alice-laptop")
        }
        return name
    }
}
