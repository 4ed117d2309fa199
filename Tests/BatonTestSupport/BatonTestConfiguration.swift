import Foundation

/// A Baton configuration for tests: a loopback port, its own directories, short delays.
public struct BatonTestConfiguration: Sendable {
    /// Where clients connect (and, for socket activation, where `baton.socket` listens).
    public var port: Int
    /// The `listen` key when it must differ from `port` (a socket from systemd wins over it).
    public var listen: String?
    /// nil: Baton's default (`$STATE_DIRECTORY` under systemd).
    public var stateDirectory: String?
    public var runtimeDirectory: String
    public var admins = ["alice"]
    public var busyInput = "queue"
    public var drainTimeout = 10.0
    public var interruptGrace = 1.0
    /// Seconds a demo-agent turn takes.
    public var agentDelay = 0.5
    /// When set, an exec agent running this command instead of the demo agent.
    public var agentCommand: [String]?
    public var maxQueuePerSession = 100
    /// `limits.max_connections`, `limits.request_timeout` and `limits.idle_timeout`; nil: Baton's defaults.
    public var maxConnections: Int?
    public var requestTimeout: Double?
    public var maxMessageBytes: Int?
    public var idleTimeout: Double?
    /// More YAML appended as it is (a `matrix:` section, say).
    public var extraYAML = ""

    public init(port: Int, stateDirectory: String?, runtimeDirectory: String) {
        self.port = port
        self.stateDirectory = stateDirectory
        self.runtimeDirectory = runtimeDirectory
    }

    /// The control socket `baton status|restart|stop` talk to.
    public var controlSocket: String { (runtimeDirectory as NSString).appendingPathComponent("control.sock") }

    /// The configuration file's text.
    public var yaml: String {
        var lines = ["listen: \(listen ?? "127.0.0.1:\(port)")"]
        if let stateDirectory { lines.append("state_directory: \(stateDirectory)") }
        lines += [
            "runtime_directory: \(runtimeDirectory)",
            "admins: [\(admins.map { "\"\($0)\"" }.joined(separator: ", "))]",
            "busy_input: \(busyInput)",
            "drain:",
            "  timeout: \(drainTimeout)",
            "  interrupt_grace: \(interruptGrace)",
            "agent:",
        ]
        if let agentCommand {
            lines += ["  kind: exec", "  command: [\(agentCommand.map { "\"\($0)\"" }.joined(separator: ", "))]"]
        } else {
            lines += ["  kind: demo", "  delay: \(agentDelay)"]
        }
        lines += [
            "limits:",
            "  max_queue_per_session: \(maxQueuePerSession)",
        ]
        if let maxConnections { lines.append("  max_connections: \(maxConnections)") }
        if let requestTimeout { lines.append("  request_timeout: \(requestTimeout)") }
        if let maxMessageBytes { lines.append("  max_message_bytes: \(maxMessageBytes)") }
        if let idleTimeout { lines.append("  idle_timeout: \(idleTimeout)") }
        return lines.joined(separator: "\n") + "\n" + extraYAML
    }
}

extension ProcessInfo {
    /// This process's environment without anything that would steer a `baton` child
    /// (`BATON_*`, systemd's `NOTIFY_SOCKET`, `LISTEN_*`, directories, watchdog).
    public static var cleanEnvironment: [String: String] {
        let systemd: Set = [
            "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "STATE_DIRECTORY", "RUNTIME_DIRECTORY",
            "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID", "MAINPID",
        ]
        return processInfo.environment.filter { key, _ in !key.hasPrefix("BATON_") && !systemd.contains(key) }
    }
}
