/// The built-in agent: answers after `agent.delay` seconds with a text that quotes the message.
public struct DemoAgent: Agent {
    public let delay: Duration

    public init(delay: Duration) {
        self.delay = delay
    }

    public var kind: AgentConfiguration.Kind { .demo }

    nonisolated(nonsending) public func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
        if delay > .zero {
            try await Task.sleep(for: delay)
        }
        try Task.checkCancellation()
        try await reply("Demo agent heard \(turn.user): \(turn.text)")
    }
}
