import Foundation

/// Everything Baton reads from its configuration file and `BATON_*` environment variables.
///
/// Every property has the default that `baton serve` uses when no configuration is given,
/// so `Configuration()` is the built-in demo gateway on `127.0.0.1:8080`.
public struct Configuration: Sendable, Equatable {
    /// Where the HTTP API listens (`host:port`). A socket handed over by systemd wins.
    public var listen: ListenAddress
    /// Holds the SQLite store.
    public var stateDirectory: String
    /// Holds the control socket.
    public var runtimeDirectory: String
    /// Whether `runtime_directory` was given (the file, `BATON_RUNTIME_DIRECTORY`, or
    /// systemd's `RUNTIME_DIRECTORY`) rather than made from `state_directory`.
    public var runtimeDirectoryIsGiven = false
    /// Chat users allowed to send `/restart`.
    public var admins: [String]
    /// When non-empty, the HTTP API requires one of these as a bearer token; each says
    /// whom its holder may speak for. Those of `api_tokens`, then `api_tokens_file`,
    /// then the systemd credential `api-tokens`.
    public var apiTokens: [APIToken]
    /// A file of more tokens (a YAML list like `api_tokens`, or one token per line).
    public var apiTokensFile: String?
    /// Serve the API without tokens on an address other machines can reach.
    public var allowUnauthenticated: Bool
    /// What a message for a busy session gets.
    public var busyInput: BusyInput
    public var drain: DrainConfiguration
    public var agent: AgentConfiguration
    public var limits: LimitsConfiguration
    /// Baton as a Matrix bot; nil when the configuration has no `matrix:` section.
    public var matrix: MatrixConfiguration?
    /// Where state is kept: SQLite under `stateDirectory`, or a PostgreSQL several processes share.
    public var store = StoreConfiguration()

    public init(
        listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8080),
        stateDirectory: String = ".baton",
        runtimeDirectory: String? = nil,
        admins: [String] = [],
        apiTokens: [APIToken] = [],
        apiTokensFile: String? = nil,
        allowUnauthenticated: Bool = false,
        busyInput: BusyInput = .queue,
        drain: DrainConfiguration = .init(),
        agent: AgentConfiguration = .init(),
        limits: LimitsConfiguration = .init(),
        matrix: MatrixConfiguration? = nil
    ) {
        self.listen = listen
        self.stateDirectory = stateDirectory
        self.runtimeDirectory = runtimeDirectory ?? (stateDirectory as NSString).appendingPathComponent("run")
        self.admins = admins
        self.apiTokens = apiTokens
        self.apiTokensFile = apiTokensFile
        self.allowUnauthenticated = allowUnauthenticated
        self.busyInput = busyInput
        self.drain = drain
        self.agent = agent
        self.limits = limits
        self.matrix = matrix
    }
}

/// What a message for a session that already has a turn running gets.
public enum BusyInput: String, Sendable, CaseIterable {
    /// It waits its turn.
    case queue
    /// It is refused with 503 and not stored.
    case reject
    /// The running turn is interrupted and the new message runs next.
    case interrupt
}

/// A `host:port` pair to listen on.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[v6]:port` or `:port`; nil when it is neither.
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How a drain behaves.
public struct DrainConfiguration: Sendable, Equatable {
    /// Seconds in-flight turns may run on once a drain starts before they are interrupted.
    public var timeout: Double
    /// Seconds an interrupted turn gets to end before its agent is killed.
    public var interruptGrace: Double

    public init(timeout: Double = 60, interruptGrace: Double = 5) {
        self.timeout = timeout
        self.interruptGrace = interruptGrace
    }
}

/// Which agent answers messages and how it is run.
public struct AgentConfiguration: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case demo, exec, http
    }

    public var kind: Kind
    /// demo: seconds a turn takes.
    public var delay: Double
    /// exec: the program and its arguments, run once per turn without a shell.
    public var command: [String]
    /// http: the URL each turn is posted to.
    public var url: String?
    /// http: the liveness probe watched while turns run.
    public var healthURL: String?
    public var healthInterval: Double
    public var healthFailureThreshold: Int
    /// Seconds after which a turn fails.
    public var turnTimeout: Double
    /// Turns running at once, across sessions.
    public var maxConcurrentTurns: Int

    public init(
        kind: Kind = .demo,
        delay: Double = 2,
        command: [String] = [],
        url: String? = nil,
        healthURL: String? = nil,
        healthInterval: Double = 15,
        healthFailureThreshold: Int = 2,
        turnTimeout: Double = 1800,
        maxConcurrentTurns: Int = 64
    ) {
        self.kind = kind
        self.delay = delay
        self.command = command
        self.url = url
        self.healthURL = healthURL
        self.healthInterval = healthInterval
        self.healthFailureThreshold = healthFailureThreshold
        self.turnTimeout = turnTimeout
        self.maxConcurrentTurns = maxConcurrentTurns
    }
}

/// Bounds on what clients may send and hold.
public struct LimitsConfiguration: Sendable, Equatable {
    /// Largest accepted request body, in bytes.
    public var maxMessageBytes: Int
    /// Messages a session may have waiting before new ones get 429.
    public var maxQueuePerSession: Int
    /// Open connections to the chat API beyond which the longest idle ones are closed to
    /// make room; 0 derives it from the descriptor limit (see `ConnectionBudget`).
    public var maxConnections: Int
    /// Seconds a client has to send a whole request (head and body) from its first byte.
    public var requestTimeout: Double
    /// Seconds a connection may wait for its next request before it is closed.
    public var idleTimeout: Double

    public init(
        maxMessageBytes: Int = 65536,
        maxQueuePerSession: Int = 100,
        maxConnections: Int = 0,
        requestTimeout: Double = 30,
        idleTimeout: Double = 75
    ) {
        self.maxMessageBytes = maxMessageBytes
        self.maxQueuePerSession = maxQueuePerSession
        self.maxConnections = maxConnections
        self.requestTimeout = requestTimeout
        self.idleTimeout = idleTimeout
    }
}
