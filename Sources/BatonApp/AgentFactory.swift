import BatonCore

/// Builds the agent `agent.kind` names.
enum AgentFactory {
    static func make(_ configuration: AgentConfiguration) throws(ConfigurationError) -> any Agent {
        switch configuration.kind {
        case .demo:
            return DemoAgent(delay: .seconds(configuration.delay))
        case .exec, .http:
            throw ConfigurationError(
                source: "configuration", key: "agent.kind",
                problem: "\(configuration.kind.rawValue) agents are not available in this build; use demo")
        }
    }
}
