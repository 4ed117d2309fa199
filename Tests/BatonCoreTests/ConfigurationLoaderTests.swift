import BatonCore
import Foundation
import Testing

@Suite struct ConfigurationLoaderTests {
    private func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func noConfigurationIsTheDemoGatewayOnPort8080() throws {
        let configuration = try ConfigurationLoader(environment: [:]).load(path: nil)
        #expect(configuration.listen == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(configuration.agent.kind == .demo)
        #expect(configuration.stateDirectory == ".baton")
        #expect(configuration.runtimeDirectory == ".baton/run")
    }

    @Test func everyKeyOfTheSpecExampleIsRead() throws {
        let path = try write(
            """
            listen: 0.0.0.0:9090
            state_directory: /var/lib/baton
            runtime_directory: /run/baton
            admins: [alice, carol]
            api_tokens: [0123456789abcdef0123]
            busy_input: interrupt
            drain:
              timeout: 12.5
              interrupt_grace: 2
            agent:
              kind: http
              delay: 0
              command: [my-agent, --flag]
              url: http://127.0.0.1:9000/turn
              health_url: http://127.0.0.1:9000/health
              health_interval: 3
              health_failure_threshold: 4
              turn_timeout: 60
              max_concurrent_turns: 8
            limits:
              max_message_bytes: 1024
              max_queue_per_session: 5
              max_connections: 500
              request_timeout: 7.5
              idle_timeout: 20
            """)
        let c = try ConfigurationLoader(environment: [:]).load(path: path)
        #expect(c.listen == ListenAddress(host: "0.0.0.0", port: 9090))
        #expect(c.stateDirectory == "/var/lib/baton" && c.runtimeDirectory == "/run/baton")
        #expect(c.admins == ["alice", "carol"] && c.apiTokens == ["0123456789abcdef0123"])
        #expect(c.busyInput == .interrupt)
        #expect(c.drain == DrainConfiguration(timeout: 12.5, interruptGrace: 2))
        #expect(c.agent.kind == .http && c.agent.command == ["my-agent", "--flag"])
        #expect(c.agent.url == "http://127.0.0.1:9000/turn" && c.agent.healthURL == "http://127.0.0.1:9000/health")
        #expect(c.agent.healthInterval == 3 && c.agent.healthFailureThreshold == 4)
        #expect(c.agent.turnTimeout == 60 && c.agent.maxConcurrentTurns == 8)
        #expect(
            c.limits
                == LimitsConfiguration(
                    maxMessageBytes: 1024, maxQueuePerSession: 5, maxConnections: 500, requestTimeout: 7.5, idleTimeout: 20))
    }

    @Test func environmentOverridesWinOverTheFile() throws {
        let path = try write("drain:\n  timeout: 10\nadmins: [alice]\n")
        let environment = ["BATON_DRAIN_TIMEOUT": "3.5", "BATON_ADMINS": "bob, carol", "BATON_LISTEN": "127.0.0.1:0"]
        let c = try ConfigurationLoader(environment: environment).load(path: path)
        #expect(c.drain.timeout == 3.5)
        #expect(c.admins == ["bob", "carol"])
        #expect(c.listen.port == 0)
    }

    @Test func systemdDirectoriesAreTheDefaults() throws {
        let environment = ["STATE_DIRECTORY": "/var/lib/baton", "RUNTIME_DIRECTORY": "/run/baton"]
        let c = try ConfigurationLoader(environment: environment).load(path: nil)
        #expect(c.stateDirectory == "/var/lib/baton" && c.runtimeDirectory == "/run/baton")
    }

    @Test(arguments: [
        ("drain:\n  timeout: soon\n", "drain.timeout", "number of seconds"),
        ("drain:\n  timeout: -1\n", "drain.timeout", "0 or more"),
        ("busy_input: drop\n", "busy_input", "queue | reject | interrupt"),
        ("listen: localhost\n", "listen", "host:port"),
        ("agent:\n  max_concurrent_turns: 0\n", "agent.max_concurrent_turns", "from 1"),
        ("agent:\n  kind: exec\n", "agent.command", "required when agent.kind is exec"),
        ("agent:\n  kind: http\n  url: ftp://x\n", "agent.url", "http:// or https://"),
        ("admins: alice\n", "admins", "list of strings"),
        ("limits:\n  max_connections: -1\n", "limits.max_connections", "from 0"),
        ("limits:\n  request_timeout: 0\n", "limits.request_timeout", "more than 0"),
        ("limits:\n  idle_timeout: forever\n", "limits.idle_timeout", "number of seconds"),
        ("store:\n  retention: a month\n", "store.retention", "number of days (0 keeps everything)"),
        ("store:\n  retention: -3\n", "store.retention", "0 (keep everything) or more days"),
        ("drian:\n  timeout: 5\n", "drian", "did you mean"),
        ("agent:\n  helth_url: http://x/health\n", "agent.helth_url", "did you mean agent.health_url"),
        ("- just\n- a list\n", "(file)", "mapping"),
    ])
    func anInvalidValueNamesTheFileTheKeyAndTheProblem(yaml: String, key: String, problem: String) throws {
        let path = try write(yaml)
        #expect {
            try ConfigurationLoader(environment: [:]).load(path: path)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.source == path && error.key == key && error.problem.contains(problem)
        }
    }

    @Test func anInvalidEnvironmentValueNamesTheVariable() {
        #expect {
            try ConfigurationLoader(environment: ["BATON_AGENT_HEALTH_FAILURE_THRESHOLD": "two"]).load(path: nil)
        } throws: { error in
            (error as? ConfigurationError)?.source == "environment BATON_AGENT_HEALTH_FAILURE_THRESHOLD"
        }
    }

    @Test func aMissingFileIsNamed() {
        #expect {
            try ConfigurationLoader(environment: [:]).load(path: "/nonexistent/baton.yaml")
        } throws: { error in
            (error as? ConfigurationError)?.source == "/nonexistent/baton.yaml"
        }
    }

    @Test("The runtime directory follows a state_directory set in the file or the environment, unless it is given itself")
    func theRuntimeDirectoryFollowsTheStateDirectory() throws {
        let file = try write("state_directory: /srv/a\n")
        #expect(try ConfigurationLoader(environment: [:]).load(path: file).runtimeDirectory == "/srv/a/run")
        #expect(try ConfigurationLoader(environment: ["BATON_STATE_DIRECTORY": "/srv/b"]).load(path: nil).runtimeDirectory == "/srv/b/run")
        let both = try write("state_directory: /srv/a\nruntime_directory: /run/a\n")
        #expect(try ConfigurationLoader(environment: [:]).load(path: both).runtimeDirectory == "/run/a")
        #expect(try ConfigurationLoader(environment: ["RUNTIME_DIRECTORY": "/run/baton"]).load(path: file).runtimeDirectory == "/run/baton")
    }

    @Test("A runtime directory too long for the control socket's path is a configuration error naming the key")
    func aRuntimeDirectoryTooLongForTheSocketIsRefused() {
        let long = "/tmp/" + String(repeating: "d", count: 120)
        #expect {
            try ConfigurationLoader(environment: ["BATON_RUNTIME_DIRECTORY": long]).load(path: nil)
        } throws: { error in
            (error as? ConfigurationError)?.key == "runtime_directory" && "\(error)".contains("too long")
        }
    }

    @Test("Errors do not repeat secrets: a mistyped store URL's password, a token on a line YAML cannot read")
    func errorsDoNotRepeatSecrets() throws {
        #expect {
            try ConfigurationLoader(environment: ["BATON_STORE_URL": "postgress://baton:hunter2@db/baton"]).load(path: nil)
        } throws: { error in
            let text = "\(error)"
            return (error as? ConfigurationError)?.key == "store.url" && text.contains("postgress://") && !text.contains("hunter2")
        }
        let broken = try write(#"api_tokens: ["frontend-0123456789abcdef", {token: "bob-0123456789abcdef", users: [bob]]"# + "\n")
        #expect {
            try ConfigurationLoader(environment: [:]).load(path: broken)
        } throws: { error in
            let text = "\(error)"
            return text.contains("not valid YAML") && !text.contains("0123456789abcdef")
        }
    }

    @Test("A token or user YAML reads as a number must be quoted, not silently changed")
    func aTokenThatReadsAsANumberMustBeQuoted() throws {
        for entry in ["0x5eed1234abcd9876", "{token: 0x5eed1234abcd9876}", "{token: frontend-0123456789abcdef, users: [007]}"] {
            let path = try write("api_tokens: [\(entry)]\n")
            #expect {
                try ConfigurationLoader(environment: [:]).load(path: path)
            } throws: { error in
                (error as? ConfigurationError)?.key == "api_tokens" && "\(error)".contains("quotes")
            }
        }
        let quoted = try write(#"api_tokens: ["0x5eed1234abcd9876"]"# + "\n")
        #expect(try ConfigurationLoader(environment: [:]).load(path: quoted).apiTokens.first?.secret == "0x5eed1234abcd9876")
    }

    @Test("Commands that only talk to the control socket load a Matrix section whose token is a credential they cannot see")
    func controlCommandsNeedNoMatrixToken() throws {
        let path = try write("matrix:\n  homeserver: https://matrix.example.org\n  user_id: \"@baton:example.org\"\n")
        let loader = ConfigurationLoader(environment: [:])
        #expect(try loader.load(path: path, readingTokenFiles: false).matrix?.homeserver == "https://matrix.example.org")
        #expect(throws: ConfigurationError.self, "serving still needs the token") { try loader.load(path: path) }
    }
}

extension ConfigurationLoaderTests {
    @Test("A socket handed over on another port or address than listen names is told apart; a name for the same address is not")
    func aHandedOverSocketIsComparedWithListen() {
        let bound = ListenAddress(host: "127.0.0.1", port: 8080)
        #expect(ListenAddress.mismatch(configured: ListenAddress(host: "127.0.0.1", port: 9090), bound: bound) == "port 8080, not 9090")
        #expect(ListenAddress.mismatch(configured: ListenAddress(host: "0.0.0.0", port: 8080), bound: bound) == "host 127.0.0.1, not 0.0.0.0")
        #expect(ListenAddress.mismatch(configured: ListenAddress(host: "127.0.0.1", port: 8080), bound: bound) == nil)
        #expect(ListenAddress.mismatch(configured: ListenAddress(host: "localhost", port: 8080), bound: bound) == nil)
        #expect(ListenAddress.mismatch(configured: ListenAddress(host: "0:0::1", port: 8080), bound: ListenAddress(host: "::1", port: 8080)) == nil)
    }
}

extension ConfigurationLoaderTests {
    @Test("A section with nothing under it, or a value where its keys belong, is named as a section, not as an unknown key", arguments: ["drain:\n", "drain: 60\n"])
    func aSectionWithoutItsKeysSaysSo(yaml: String) throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-section-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try ConfigurationLoader(environment: [:]).load(path: path)
        } throws: { error in
            guard let error = error as? ConfigurationError else { return false }
            return error.key == "drain" && error.problem.contains("is a section") && error.problem.contains("drain.timeout")
        }
    }
}
