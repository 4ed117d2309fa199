import Foundation

extension ConfigurationLoader {
    /// The systemd credential that holds more API tokens (`LoadCredential=api-tokens:…`),
    /// read from `$CREDENTIALS_DIRECTORY` when systemd passes it.
    public static let tokenCredential = "api-tokens"

    /// Adds the tokens of `api_tokens_file` and of the credential `api-tokens` after those
    /// of `api_tokens`, then checks that each token and each name appears once.
    ///
    /// An `api_tokens_file` that cannot be read is an error; a missing credential is not
    /// (the unit may simply not load one).
    func addTokenFiles(to configuration: inout Configuration, source: String) throws(ConfigurationError) {
        var origins = Array(repeating: "api_tokens", count: configuration.apiTokens.count)
        if let path = configuration.apiTokensFile {
            let tokens = try readTokens(at: path, key: "api_tokens_file")
            configuration.apiTokens += tokens
            origins += Array(repeating: "api_tokens_file", count: tokens.count)
        }
        if let path = credentialPath(Self.tokenCredential) {
            let key = "credential \(Self.tokenCredential)"
            let tokens = try readTokens(at: path, key: key)
            configuration.apiTokens += tokens
            origins += Array(repeating: key, count: tokens.count)
        }
        try checkUnique(configuration.apiTokens, origins: origins, source: source)
    }

    private func readTokens(at path: String, key: String) throws(ConfigurationError) -> [APIToken] {
        let contents = try text(of: path, key: key)
        do {
            return try APITokenParser.parse(file: contents)
        } catch {
            throw ConfigurationError(source: path, key: key, problem: error.problem)
        }
    }

    /// Two entries with one token would make who is speaking ambiguous; two with one name
    /// would make logs and metrics so.
    private func checkUnique(_ tokens: [APIToken], origins: [String], source: String) throws(ConfigurationError) {
        let names = tokens.names
        var firstWithName: [String: Int] = [:]
        var firstWithSecret: [String: Int] = [:]
        for (index, token) in tokens.enumerated() {
            if let earlier = firstWithSecret[token.secret] {
                throw ConfigurationError(
                    source: source, key: "api_tokens",
                    problem: "\(names[index]) (from \(origins[index])) is the same token as \(names[earlier]) (from \(origins[earlier])); "
                        + "list each token once, with every user it may speak for")
            }
            if let earlier = firstWithName[names[index]] {
                throw ConfigurationError(
                    source: source, key: "api_tokens",
                    problem: "the name \(names[index]) is given to two tokens (from \(origins[earlier]) and from \(origins[index])); "
                        + "logs and metrics tell tokens apart by name, so each must be unique")
            }
            firstWithSecret[token.secret] = index
            firstWithName[names[index]] = index
        }
    }
}
