import Foundation

/// One configuration key: its dotted path and how a raw value is checked and applied.
struct ConfigurationKey: Sendable {
    /// A value as found in YAML (already typed by the parser) or in the environment (a string).
    enum RawValue {
        case yaml(Any)
        case environment(String)
    }

    /// Why a value was refused.
    struct Problem: Error {
        let problem: String
        init(_ problem: String) { self.problem = problem }
    }

    let path: String
    let apply: @Sendable (RawValue, inout Configuration) throws(Problem) -> Void

    /// `BATON_` and the path in upper case with dots as underscores. Paths are ASCII, so
    /// this maps bytes (read at every start for every key: no Unicode case tables).
    var environmentName: String {
        let upper = path.utf8.map { byte -> UInt8 in
            switch byte {
            case UInt8(ascii: "."): UInt8(ascii: "_")
            case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - 32
            default: byte
            }
        }
        return "BATON_" + String(decoding: upper, as: UTF8.self)
    }

    static func named(_ path: String) -> ConfigurationKey? { all.first { $0.path == path } }

    /// Keys that hold other keys.
    static let sections = ["drain", "agent", "limits", "store", "matrix"]

    static func isSection(_ path: String) -> Bool { sections.contains(path) }

    static let all: [ConfigurationKey] = [
        ConfigurationKey(path: "listen") { raw, c throws(Problem) in
            let text = try string(raw)
            guard let address = ListenAddress(parsing: text) else {
                throw Problem("must be host:port with a port from 0 to 65535, got \"\(text)\"")
            }
            c.listen = address
        },
        ConfigurationKey(path: "state_directory") { raw, c throws(Problem) in
            c.stateDirectory = try nonEmptyString(raw)
        },
        ConfigurationKey(path: "runtime_directory") { raw, c throws(Problem) in
            c.runtimeDirectory = try nonEmptyString(raw)
        },
        ConfigurationKey(path: "admins") { raw, c throws(Problem) in c.admins = try list(raw) },
        ConfigurationKey(path: "api_tokens") { raw, c throws(Problem) in
            switch raw {
            case .environment(let text): c.apiTokens = try APITokenParser.parse(environment: text)
            case .yaml(let value): c.apiTokens = try APITokenParser.parse(yaml: value)
            }
        },
        ConfigurationKey(path: "api_tokens_file") { raw, c throws(Problem) in c.apiTokensFile = try nonEmptyString(raw) },
        ConfigurationKey(path: "allow_unauthenticated") { raw, c throws(Problem) in c.allowUnauthenticated = try boolean(raw) },
        ConfigurationKey(path: "busy_input") { raw, c throws(Problem) in c.busyInput = try choice(raw) },
        ConfigurationKey(path: "drain.timeout") { raw, c throws(Problem) in
            c.drain.timeout = try seconds(raw, allowZero: true)
        },
        ConfigurationKey(path: "drain.interrupt_grace") { raw, c throws(Problem) in
            c.drain.interruptGrace = try seconds(raw, allowZero: true)
        },
        ConfigurationKey(path: "agent.kind") { raw, c throws(Problem) in c.agent.kind = try choice(raw) },
        ConfigurationKey(path: "agent.delay") { raw, c throws(Problem) in
            c.agent.delay = try seconds(raw, allowZero: true)
        },
        ConfigurationKey(path: "agent.command") { raw, c throws(Problem) in
            let command = try list(raw)
            guard !command.isEmpty, !command[0].isEmpty else { throw Problem("must name a program to run") }
            c.agent.command = command
        },
        ConfigurationKey(path: "agent.url") { raw, c throws(Problem) in c.agent.url = try httpURL(raw) },
        ConfigurationKey(path: "agent.health_url") { raw, c throws(Problem) in c.agent.healthURL = try httpURL(raw) },
        ConfigurationKey(path: "agent.health_interval") { raw, c throws(Problem) in
            c.agent.healthInterval = try seconds(raw, allowZero: false)
        },
        ConfigurationKey(path: "agent.health_failure_threshold") { raw, c throws(Problem) in
            c.agent.healthFailureThreshold = try integer(raw, in: 1...1000)
        },
        ConfigurationKey(path: "agent.turn_timeout") { raw, c throws(Problem) in
            c.agent.turnTimeout = try seconds(raw, allowZero: false)
        },
        ConfigurationKey(path: "agent.max_concurrent_turns") { raw, c throws(Problem) in
            c.agent.maxConcurrentTurns = try integer(raw, in: 1...100_000)
        },
        ConfigurationKey(path: "limits.max_message_bytes") { raw, c throws(Problem) in
            c.limits.maxMessageBytes = try integer(raw, in: 64...16_777_216)
        },
        ConfigurationKey(path: "limits.max_queue_per_session") { raw, c throws(Problem) in
            c.limits.maxQueuePerSession = try integer(raw, in: 1...1_000_000)
        },
        ConfigurationKey(path: "store.url") { raw, c throws(Problem) in
            let text = try string(raw).trimmingCharacters(in: .whitespaces)
            guard text.isEmpty || text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") else {
                // Only the scheme: the rest may hold a password.
                let scheme = text.range(of: "://").map { String(text[..<$0.lowerBound]) + "://…" } ?? "a value that is not a URL"
                throw Problem("must be empty (SQLite under state_directory) or a postgres:// URL, got \(scheme)")
            }
            c.store.url = text
        },
        ConfigurationKey(path: "store.lease") { raw, c throws(Problem) in
            c.store.lease = try seconds(raw, allowZero: false)
        },
        ConfigurationKey(path: "store.retention") { raw, c throws(Problem) in
            c.store.retention = try days(raw)
        },
        ConfigurationKey(path: "limits.max_connections") { raw, c throws(Problem) in
            c.limits.maxConnections = try integer(raw, in: 0...10_000_000)
        },
        ConfigurationKey(path: "limits.request_timeout") { raw, c throws(Problem) in
            c.limits.requestTimeout = try seconds(raw, allowZero: false)
        },
        ConfigurationKey(path: "limits.idle_timeout") { raw, c throws(Problem) in
            c.limits.idleTimeout = try seconds(raw, allowZero: false)
        },
        ConfigurationKey(path: "matrix.homeserver") { raw, c throws(Problem) in
            c.matrixSection.homeserver = try httpURL(raw)
        },
        ConfigurationKey(path: "matrix.user_id") { raw, c throws(Problem) in
            let text = try string(raw)
            guard MatrixIdentifier.isUserID(text) else {
                throw Problem("must be a Matrix user id like @baton:example.org, got \"\(text)\"")
            }
            c.matrixSection.userID = text
        },
        ConfigurationKey(path: "matrix.access_token") { raw, c throws(Problem) in
            c.matrixSection.accessToken = try string(raw).trimmingCharacters(in: .whitespacesAndNewlines)
        },
        ConfigurationKey(path: "matrix.device_id") { raw, c throws(Problem) in
            c.matrixSection.deviceID = try string(raw)
        },
        ConfigurationKey(path: "matrix.auto_join") { raw, c throws(Problem) in
            c.matrixSection.autoJoin = try choice(raw)
        },
        ConfigurationKey(path: "matrix.rooms") { raw, c throws(Problem) in
            let rooms = try list(raw)
            if let bad = rooms.first(where: { !MatrixIdentifier.isRoomIDOrAlias($0) }) {
                throw Problem("must list room ids (!id:server) or aliases (#name:server), got \"\(bad)\"")
            }
            c.matrixSection.rooms = rooms
        },
    ]

    // MARK: Value parsers

    private static func string(_ raw: RawValue) throws(Problem) -> String {
        switch raw {
        case .environment(let text): return text
        case .yaml(let value as String): return value
        case .yaml(let value as Int): return String(value)
        case .yaml(let value): throw Problem("must be a string, got \(describe(value))")
        }
    }

    private static func nonEmptyString(_ raw: RawValue) throws(Problem) -> String {
        let text = try string(raw)
        guard !text.isEmpty else { throw Problem("must not be empty") }
        return text
    }

    private static func list(_ raw: RawValue) throws(Problem) -> [String] {
        switch raw {
        case .environment(let text):
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .yaml(let values as [Any]):
            var strings: [String] = []
            for value in values {
                guard let string = value as? String ?? (value as? Int).map(String.init) else {
                    throw Problem("must be a list of strings, found \(describe(value))")
                }
                strings.append(string)
            }
            return strings
        case .yaml(let value):
            throw Problem("must be a list of strings, got \(describe(value))")
        }
    }

    private static func boolean(_ raw: RawValue) throws(Problem) -> Bool {
        switch raw {
        case .yaml(let value as Bool): return value
        case .environment(let text):
            switch text.trimmingCharacters(in: .whitespaces).lowercased() {
            case "true", "yes", "1": return true
            case "false", "no", "0": return false
            default: throw Problem("must be true or false, got \"\(text)\"")
            }
        case .yaml(let value): throw Problem("must be true or false, got \(describe(value))")
        }
    }

    private static func choice<Choice: RawRepresentable & CaseIterable>(_ raw: RawValue) throws(Problem) -> Choice
    where Choice.RawValue == String {
        let text = try string(raw)
        guard let value = Choice(rawValue: text) else {
            let choices = Choice.allCases.map(\.rawValue).joined(separator: " | ")
            throw Problem("must be one of \(choices), got \"\(text)\"")
        }
        return value
    }

    private static func seconds(_ raw: RawValue, allowZero: Bool) throws(Problem) -> Double {
        let value: Double?
        switch raw {
        case .environment(let text): value = Double(text.trimmingCharacters(in: .whitespaces))
        case .yaml(let number as Int): value = Double(number)
        case .yaml(let number as Double): value = number
        case .yaml: value = nil
        }
        let bound = allowZero ? "0 or more" : "more than 0"
        guard let value, value.isFinite else { throw Problem("must be a number of seconds (\(bound))") }
        guard allowZero ? value >= 0 : value > 0 else { throw Problem("must be \(bound) seconds, got \(value)") }
        guard value <= 7 * 86400 else { throw Problem("must be at most a week (604800 seconds), got \(value)") }
        return value
    }

    /// A number of days, fractions allowed; 0 means forever.
    private static func days(_ raw: RawValue) throws(Problem) -> Double {
        let value: Double?
        switch raw {
        case .environment(let text): value = Double(text.trimmingCharacters(in: .whitespaces))
        case .yaml(let number as Int): value = Double(number)
        case .yaml(let number as Double): value = number
        case .yaml: value = nil
        }
        guard let value, value.isFinite else { throw Problem("must be a number of days (0 keeps everything)") }
        guard value >= 0 else { throw Problem("must be 0 (keep everything) or more days, got \(value)") }
        guard value <= 36_500 else { throw Problem("must be at most 36500 days (100 years; 0 keeps everything), got \(value)") }
        // Less is a slip of the keyboard: replies would go before their reader came back.
        guard value == 0 || value * 86_400 >= 60 else {
            throw Problem("must be 0 (keep everything) or at least a minute (0.0007 days), got \(value)")
        }
        return value
    }

    private static func integer(_ raw: RawValue, in range: ClosedRange<Int>) throws(Problem) -> Int {
        let value: Int?
        switch raw {
        case .environment(let text): value = Int(text.trimmingCharacters(in: .whitespaces))
        case .yaml(let number as Int): value = number
        case .yaml: value = nil
        }
        guard let value else { throw Problem("must be a whole number from \(range.lowerBound) to \(range.upperBound)") }
        guard range.contains(value) else {
            throw Problem("must be from \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return value
    }

    private static func httpURL(_ raw: RawValue) throws(Problem) -> String {
        let text = try string(raw)
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw Problem("must be an http:// or https:// URL, got \"\(text)\"")
        }
        return text
    }

    private static func describe(_ value: Any) -> String {
        switch value {
        case is [Any]: return "a list"
        case is [String: Any]: return "a mapping"
        case is Bool: return "a boolean"
        case is Int, is Double: return "a number"
        default: return "\"\(value)\""
        }
    }
}

extension Configuration {
    /// The `matrix:` section, created by the first Matrix key that sets it.
    fileprivate var matrixSection: MatrixConfiguration {
        get { matrix ?? MatrixConfiguration() }
        set { matrix = newValue }
    }
}
