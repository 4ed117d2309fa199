import BatonCore
import Foundation
import Testing

/// `api_tokens`, `api_tokens_file`, the `api-tokens` credential and
/// `allow_unauthenticated`: what an operator writes, and what Baton makes of it.
@Suite struct APITokenConfigurationTests {
    /// The acceptance tests' configuration, exactly.
    static let acceptanceYAML = """
        api_tokens:
          - "front-end-token-0123456789"
          - {token: "bob-token-0123456789ab", users: [bob], name: bob}

        """

    private let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-tokens-\(UUID().uuidString)").path

    private func write(_ text: String, to name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func expectError(
        _ yaml: String, environment: [String: String] = [:], key: String, problem: String, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let path = try write(yaml, to: "baton.yaml")
        #expect(sourceLocation: sourceLocation) {
            try ConfigurationLoader(environment: environment).load(path: path)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.key == key && error.problem.contains(problem)
        }
    }

    @Test func aPlainTokenSpeaksForAnyoneAndAMappedOneOnlyForItsUsers() throws {
        let path = try write(Self.acceptanceYAML, to: "baton.yaml")
        let tokens = try ConfigurationLoader(environment: [:]).load(path: path).apiTokens
        #expect(tokens == [APIToken("front-end-token-0123456789"), APIToken("bob-token-0123456789ab", users: ["bob"], name: "bob")])
        #expect(tokens.names == ["token-1", "bob"], "an unnamed token is named by its place in the list")
        #expect(tokens[0].maySpeak(for: "alice") && tokens[0].maySpeak(for: "bob"))
        #expect(tokens[1].maySpeak(for: "bob") && !tokens[1].maySpeak(for: "alice"))
        #expect(!"\(tokens)".contains("0123456789"), "a token's description never shows the secret")
    }

    @Test func tokensFromAFileAndTheCredentialComeAfterTheConfiguredOnes() throws {
        let file = try write(
            """
            # tokens of the chat users
            - {token: "carol-token-0123456789", users: [carol, "@carol:example.org"], name: carol-laptop}
            - "second-front-end-token-01"
            """, to: "tokens.yaml")
        let credentials = (directory as NSString).appendingPathComponent("credentials")
        try FileManager.default.createDirectory(atPath: credentials, withIntermediateDirectories: true)
        try "# one per line\nfrom-the-credential-0123456\n\n  another-credential-token-01  \n"
            .write(toFile: (credentials as NSString).appendingPathComponent("api-tokens"), atomically: true, encoding: .utf8)
        let path = try write(Self.acceptanceYAML + "api_tokens_file: \(file)\n", to: "baton.yaml")

        let tokens = try ConfigurationLoader(environment: ["CREDENTIALS_DIRECTORY": credentials]).load(path: path).apiTokens
        #expect(tokens.map(\.secret) == [
            "front-end-token-0123456789", "bob-token-0123456789ab", "carol-token-0123456789", "second-front-end-token-01",
            "from-the-credential-0123456", "another-credential-token-01",
        ])
        #expect(tokens.names == ["token-1", "bob", "carol-laptop", "token-4", "token-5", "token-6"])
        #expect(tokens[2].users == ["carol", "@carol:example.org"])
    }

    @Test func aFileHoldingJustOneTokenIsThatToken() throws {
        let file = try write("only-token-in-the-file-0123\n", to: "token")
        let tokens = try ConfigurationLoader(environment: ["BATON_API_TOKENS_FILE": file]).load(path: nil).apiTokens
        #expect(tokens == [APIToken("only-token-in-the-file-0123")])
    }

    @Test func theEnvironmentStillGivesPlainTokensAndReplacesTheConfiguredList() throws {
        let path = try write(Self.acceptanceYAML, to: "baton.yaml")
        let environment = ["BATON_API_TOKENS": "env-token-one-0123456789, env-token-two-0123456789"]
        let tokens = try ConfigurationLoader(environment: environment).load(path: path).apiTokens
        #expect(tokens == [APIToken("env-token-one-0123456789"), APIToken("env-token-two-0123456789")])
    }

    @Test func controlCommandsDoNotNeedToReadTheTokenFile() throws {
        let path = try write("api_tokens_file: /nonexistent/tokens\n", to: "baton.yaml")
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader(environment: [:]).load(path: path) }
        let configuration = try ConfigurationLoader(environment: [:]).load(path: path, readingTokenFiles: false)
        #expect(configuration.apiTokens.isEmpty)
    }

    @Test(arguments: [
        ("api_tokens: [short]\n", "api_tokens", "entry 1: each token must be at least 16 characters"),
        ("api_tokens: [{token: \"bob-token-0123456789ab\", users: []}]\n", "api_tokens", "users is empty"),
        ("api_tokens: [{token: \"bob-token-0123456789ab\", users: bob}]\n", "api_tokens", "users must be a list"),
        ("api_tokens: [{tokn: \"bob-token-0123456789ab\"}]\n", "api_tokens", "unknown key \"tokn\"; did you mean token?"),
        ("api_tokens: [{users: [bob]}]\n", "api_tokens", "entry 1 needs token"),
        ("api_tokens: [{token: \"bob-token-0123456789ab\", name: \"bob's phone\"}]\n", "api_tokens", "name must be"),
        ("api_tokens: [\"with a space 0123456789\"]\n", "api_tokens", "white space"),
        ("api_tokens: {token: \"bob-token-0123456789ab\"}\n", "api_tokens", "must be a list"),
        (
            "api_tokens:\n  - {token: \"bob-token-0123456789ab\", name: bob}\n  - {token: \"bob-token-0123456789ab\", users: [alice]}\n",
            "api_tokens", "token-2 (from api_tokens) is the same token as bob"
        ),
        (
            "api_tokens:\n  - {token: \"first-token-0123456789\", name: ops}\n  - {token: \"other-token-0123456789\", name: ops}\n",
            "api_tokens", "the name ops is given to two tokens"
        ),
        ("allow_unauthenticated: sometimes\n", "allow_unauthenticated", "true or false"),
        ("api_token: [abcdefghijklmnopqrstuvwxyz]\n", "api_token", "did you mean api_tokens?"),
        ("api_tokens_file: /nonexistent/tokens\n", "api_tokens_file", "cannot be read"),
    ])
    func aBadTokenEntryNamesTheKeyAndTheProblem(yaml: String, key: String, problem: String) throws {
        try expectError(yaml, key: key, problem: problem)
    }

    @Test func aBadLineInTheTokenFileIsNamedWithTheFile() throws {
        let file = try write("good-token-0123456789abc\ntoken: bob-token-0123456789ab users: bob\n", to: "tokens")
        #expect {
            try ConfigurationLoader(environment: ["BATON_API_TOKENS_FILE": file]).load(path: nil)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.source == file && error.key == "api_tokens_file" && error.problem.contains("line 2")
        }
    }

    @Test("A token file or credential that holds no token, or an empty BATON_API_TOKENS, is an error: none turns authentication off silently")
    func anEmptyTokenSourceIsRefused() throws {
        let comments = try write("# tokens go here\n\n", to: "tokens")
        try expectError("api_tokens_file: \(comments)\n", key: "api_tokens_file", problem: "holds no token")
        let emptyList = try write("[]\n", to: "list")
        try expectError("api_tokens_file: \(emptyList)\n", key: "api_tokens_file", problem: "holds no token")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "".write(toFile: (directory as NSString).appendingPathComponent("api-tokens"), atomically: true, encoding: .utf8)
        try expectError(
            Self.acceptanceYAML, environment: ["CREDENTIALS_DIRECTORY": directory], key: "credential api-tokens", problem: "holds no token")
        try expectError(Self.acceptanceYAML, environment: ["BATON_API_TOKENS": ""], key: "api_tokens", problem: "holds no token")
    }

    @Test func aTokenFileWithWindowsLineEndingsIsReadLineByLine() throws {
        let file = try write("first-token-0123456789\r\nsecond-token-0123456789\r\n", to: "tokens")
        let tokens = try ConfigurationLoader(environment: ["BATON_API_TOKENS_FILE": file]).load(path: nil).apiTokens
        #expect(tokens == [APIToken("first-token-0123456789"), APIToken("second-token-0123456789")])
    }

    @Test func theSameTokenInTheCredentialAndTheFileIsRefused() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "shared-token-0123456789".write(toFile: (directory as NSString).appendingPathComponent("api-tokens"), atomically: true, encoding: .utf8)
        try expectError(
            "api_tokens: [shared-token-0123456789]\n", environment: ["CREDENTIALS_DIRECTORY": directory], key: "api_tokens",
            problem: "token-2 (from credential api-tokens) is the same token as token-1 (from api_tokens)")
    }

    @Test(arguments: ["0.0.0.0", "::", "192.0.2.10", "2001:db8::1"])
    func withoutTokensAnAddressOtherMachinesReachIsRefusedSayingHowToAllowIt(host: String) throws {
        let address = ListenAddress(host: host, port: 8080)
        let problem = try #require(Configuration(listen: address).exposureProblem(listeningOn: address))
        #expect(problem.key == "api_tokens")
        #expect(problem.problem.contains("allow_unauthenticated: true"))
        #expect(Configuration(allowUnauthenticated: true).exposureProblem(listeningOn: address) == nil)
        #expect(Configuration(apiTokens: ["front-end-token-0123456789"]).exposureProblem(listeningOn: address) == nil)
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1", "localhost"])
    func withoutTokensALoopbackAddressIsServed(host: String) {
        let address = ListenAddress(host: host, port: 8080)
        #expect(address.isLoopback)
        #expect(Configuration().exposureProblem(listeningOn: address) == nil)
    }

    @Test func allowUnauthenticatedIsReadFromTheFileAndTheEnvironment() throws {
        let path = try write("listen: 0.0.0.0:8080\nallow_unauthenticated: true\n", to: "baton.yaml")
        #expect(try ConfigurationLoader(environment: [:]).load(path: path).allowUnauthenticated)
        #expect(try !ConfigurationLoader(environment: ["BATON_ALLOW_UNAUTHENTICATED": "false"]).load(path: path).allowUnauthenticated)
    }

    @Test func onlyAdminCommandsNeedAnAdmin() {
        #expect(ChatCommand(text: " /restart\n") == .restart(now: false))
        #expect(ChatCommand(text: "/restart now")?.needsAdmin == true)
        #expect(ChatCommand(text: "/status")?.needsAdmin == false)
        #expect(ChatCommand(text: "please /restart") == nil)
    }
}
