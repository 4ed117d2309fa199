import Foundation

/// Reads a ``Configuration`` from a YAML file and `BATON_*` environment variables.
///
/// Every key is checked for type and range; an unknown key is an error that suggests the
/// nearest known one. Environment variables win over the file (`drain.timeout` is
/// `BATON_DRAIN_TIMEOUT`; lists are comma-separated).
public struct ConfigurationLoader: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The path named by `--config` or `BATON_CONFIG`, if any.
    public func configurationPath(explicit: String?) -> String? {
        explicit ?? environment["BATON_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Loads the file at `path` (nil: defaults only) and applies environment overrides.
    ///
    /// `readingTokenFiles` false leaves out `api_tokens_file` and the `api-tokens`
    /// credential: commands that only talk to the control socket need neither, and must
    /// work for a user who may not read them.
    /// The same holds for the Matrix access token, which may be a credential only the
    /// unit's process can read.
    public func load(path: String?, readingTokenFiles: Bool = true) throws(ConfigurationError) -> Configuration {
        var configuration = defaults()
        var keys: Set<String> = []
        if let path {
            keys = try apply(yaml: try text(of: path, key: "(file)"), source: path, to: &configuration)
        }
        try applyEnvironment(to: &configuration)
        // `<state_directory>/run` unless a runtime directory was given: the state
        // directory may have been set after the default was made.
        let runtimeGiven = keys.contains("runtime_directory") || environment["BATON_RUNTIME_DIRECTORY"] != nil
            || environment["RUNTIME_DIRECTORY"] != nil
        if !runtimeGiven {
            configuration.runtimeDirectory = (configuration.stateDirectory as NSString).appendingPathComponent("run")
        }
        configuration.runtimeDirectoryIsGiven = runtimeGiven
        if readingTokenFiles { try addTokenFiles(to: &configuration, source: path ?? "configuration") }
        try applyCredentials(to: &configuration)
        try checkConsistency(configuration, source: path ?? "configuration", needsSecrets: readingTokenFiles)
        return configuration
    }

    /// Parses YAML text over `configuration`; returns the keys it set.
    @discardableResult
    public func apply(yaml text: String, source: String, to configuration: inout Configuration) throws(ConfigurationError) -> Set<String> {
        let document: Any?
        do {
            document = try YAMLDocument.load(text)
        } catch {
            // The position and the problem only: the parser's own message goes on to quote
            // the line, which may hold a token.
            let problem = "\(error)".split(separator: "\n", maxSplits: 1).first.map(String.init) ?? "\(error)"
            throw ConfigurationError(source: source, key: "(file)", problem: "is not valid YAML: \(problem)")
        }
        guard let document else { return [] }
        guard let mapping = document as? [String: Any] else {
            throw ConfigurationError(source: source, key: "(file)", problem: "must be a mapping of keys to values")
        }
        var keys: Set<String> = []
        for (path, value) in flatten(mapping, prefix: "") {
            guard let key = ConfigurationKey.named(path) else {
                throw ConfigurationError(source: source, key: path, problem: unknownKeyProblem(path))
            }
            do {
                try key.apply(.yaml(value), &configuration)
            } catch {
                throw ConfigurationError(source: source, key: path, problem: error.problem)
            }
            keys.insert(path)
        }
        return keys
    }

    private func applyEnvironment(to configuration: inout Configuration) throws(ConfigurationError) {
        for key in ConfigurationKey.all {
            guard let value = environment[key.environmentName] else { continue }
            do {
                try key.apply(.environment(value), &configuration)
            } catch {
                throw ConfigurationError(source: "environment \(key.environmentName)", key: key.path, problem: error.problem)
            }
        }
    }

    /// Secrets systemd hands over with `LoadCredential=`, used when neither the file nor
    /// the environment gave them.
    private func applyCredentials(to configuration: inout Configuration) throws(ConfigurationError) {
        guard var matrix = configuration.matrix, matrix.accessToken.isEmpty,
            let path = credentialPath(MatrixConfiguration.accessTokenCredential)
        else { return }
        matrix.accessToken = try text(of: path, key: "matrix.access_token").trimmingCharacters(in: .whitespacesAndNewlines)
        configuration.matrix = matrix
    }

    /// The file of the systemd credential `name` in `$CREDENTIALS_DIRECTORY`, if systemd
    /// passed it (`LoadCredential=`); nil when the unit loads no such credential.
    func credentialPath(_ name: String) -> String? {
        guard let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty else { return nil }
        let path = (directory as NSString).appendingPathComponent(name)
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// The text of the file at `path`; one that cannot be read is an error of `key`.
    func text(of path: String, key: String) throws(ConfigurationError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(source: path, key: key, problem: "cannot be read: \(error.localizedDescription)")
        }
    }

    private func defaults() -> Configuration {
        // systemd may pass several colon-separated directories; the first is Baton's.
        let stateDirectory = environment["STATE_DIRECTORY"]?.split(separator: ":").first.map(String.init) ?? ".baton"
        let runtimeDirectory = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first.map(String.init)
        return Configuration(stateDirectory: stateDirectory, runtimeDirectory: runtimeDirectory)
    }

    private func checkConsistency(_ configuration: Configuration, source: String, needsSecrets: Bool) throws(ConfigurationError) {
        switch configuration.agent.kind {
        case .exec where configuration.agent.command.isEmpty:
            throw ConfigurationError(source: source, key: "agent.command", problem: "is required when agent.kind is exec")
        case .http where configuration.agent.url == nil:
            throw ConfigurationError(source: source, key: "agent.url", problem: "is required when agent.kind is http")
        default:
            break
        }
        // A Unix socket's path holds at most 107 bytes.
        let socket = (configuration.runtimeDirectory as NSString).appendingPathComponent("control.sock")
        guard socket.utf8.count < 108 else {
            throw ConfigurationError(
                source: source, key: "runtime_directory",
                problem: "is too long for a socket path (\(socket) is \(socket.utf8.count) bytes; at most 107): choose a shorter directory")
        }
        if let matrix = configuration.matrix {
            let missing = [("matrix.homeserver", matrix.homeserver), ("matrix.user_id", matrix.userID)].first { $0.1.isEmpty }
            if let (key, _) = missing {
                throw ConfigurationError(source: source, key: key, problem: "is required when a matrix section is present")
            }
            if needsSecrets, matrix.accessToken.isEmpty {
                throw ConfigurationError(
                    source: source, key: "matrix.access_token",
                    problem: "is required: set it, BATON_MATRIX_ACCESS_TOKEN, or the systemd credential \(MatrixConfiguration.accessTokenCredential)")
            }
        }
    }

    private func flatten(_ mapping: [String: Any], prefix: String) -> [(String, Any)] {
        mapping.sorted { $0.key < $1.key }.flatMap { key, value -> [(String, Any)] in
            let path = prefix.isEmpty ? key : "\(prefix).\(key)"
            // Only sections are mappings; a mapping under a leaf key is reported by the leaf.
            if let nested = value as? [String: Any], ConfigurationKey.isSection(path) {
                return flatten(nested, prefix: path)
            }
            return [(path, value)]
        }
    }

    private func unknownKeyProblem(_ path: String) -> String {
        if ConfigurationKey.isSection(path) {
            // `drain:` with nothing under it, or `drain: 60`.
            let keys = ConfigurationKey.all.map(\.path).filter { $0.hasPrefix(path + ".") }.prefix(3).joined(separator: ", ")
            return "is a section: give its keys indented below it (\(keys), …), or remove the line"
        }
        let nearest = (ConfigurationKey.all.map(\.path) + ConfigurationKey.sections).min {
            editDistance($0, path) < editDistance($1, path)
        }
        if let nearest, editDistance(nearest, path) <= max(3, path.count / 3) {
            return "is not a known key; did you mean \(nearest)?"
        }
        return "is not a known key"
    }
}

/// Levenshtein distance, for suggesting the key someone meant.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in stride(from: 1, through: b.count, by: 1) {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
