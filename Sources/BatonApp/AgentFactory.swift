import BatonAgents
import BatonCore
import Foundation
import Logging

/// Builds the agent `agent.kind` names, and what watches it.
enum AgentFactory {
    /// Checks the agent's keys and builds its back-end; names the bad key otherwise.
    static func make(_ configuration: Configuration, logger: Logger) throws(ConfigurationError) -> AgentBackEnd {
        let agent = configuration.agent
        let interval = Duration.seconds(agent.healthInterval)
        switch agent.kind {
        case .demo:
            return AgentBackEnd(agent: DemoAgent(delay: .seconds(agent.delay)), interval: interval)
        case .exec:
            let program = try executable(agent.command)
            return AgentBackEnd(
                agent: ExecAgent(
                    command: [program] + agent.command.dropFirst(), interruptGrace: .seconds(configuration.drain.interruptGrace),
                    logger: logger),
                interval: interval)
        case .http:
            let url = try httpURL(agent.url, key: "agent.url")
            let failures = TransportFailures()
            var probe: HTTPHealthProbe?
            if let healthURL = agent.healthURL {
                probe = HTTPHealthProbe(
                    url: try httpURL(healthURL, key: "agent.health_url"), timeout: HTTPHealthProbe.timeout(forInterval: interval))
            } else {
                logger.warning("agent.health_url is not set: turns of an agent that stops answering run until agent.turn_timeout")
            }
            return AgentBackEnd(
                agent: HTTPAgent(url: url, connections: agent.maxConcurrentTurns, failures: failures, logger: logger), probe: probe, failures: failures, interval: interval)
        }
    }

    /// Checks the agent's keys as ``make(_:logger:)`` does, building nothing.
    static func check(_ configuration: Configuration) throws(ConfigurationError) {
        let agent = configuration.agent
        switch agent.kind {
        case .demo:
            return
        case .exec:
            _ = try executable(agent.command)
        case .http:
            _ = try httpURL(agent.url, key: "agent.url")
            if let healthURL = agent.healthURL { _ = try httpURL(healthURL, key: "agent.health_url") }
        }
    }

    /// The program of `agent.command`, checked now so that a typo stops the start
    /// rather than fails every turn. A relative path is made absolute.
    private static func executable(_ command: [String]) throws(ConfigurationError) -> String {
        guard let program = command.first, !program.isEmpty else {
            throw ConfigurationError(source: "configuration", key: "agent.command", problem: "is required when agent.kind is exec")
        }
        let files = FileManager.default
        if program.contains("/") {
            let path = program.hasPrefix("/") ? program : (files.currentDirectoryPath as NSString).appendingPathComponent(program)
            guard files.isExecutableFile(atPath: path) else {
                throw ConfigurationError(
                    source: "configuration", key: "agent.command",
                    problem: "\(program) is not an executable file (check the path, and chmod +x)")
            }
            return (path as NSString).standardizingPath
        }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let found = searchPath.split(separator: ":").contains { directory in
            files.isExecutableFile(atPath: (String(directory) as NSString).appendingPathComponent(program))
        }
        guard found else {
            throw ConfigurationError(
                source: "configuration", key: "agent.command",
                problem: "\(program) was not found in PATH (\(searchPath)); give its full path")
        }
        return program
    }

    private static func httpURL(_ text: String?, key: String) throws(ConfigurationError) -> String {
        guard let text, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host?.isEmpty == false
        else {
            throw ConfigurationError(
                source: "configuration", key: key,
                problem: "must be an http:// or https:// URL with a host, like http://127.0.0.1:9000/turn (got \(text ?? "nothing"))")
        }
        return text
    }
}
