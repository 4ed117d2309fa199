/// What an agent is given for one turn; also the JSON the exec and HTTP agents receive.
public struct TurnRequest: Sendable, Codable, Equatable {
    /// The message id (the HTTP agent's `Idempotency-Key`).
    public var id: String
    public var session: String
    public var user: String
    public var text: String
    /// The gateway process running the turn.
    public var instance: String
    /// The turn ran before and was cut short (a restart's deadline, a crash): it runs again.
    public var rerun: Bool
    /// Replies of this message already delivered by earlier runs; the gateway drops the
    /// first this many replies of a re-run, so an agent may simply answer again.
    public var repliesDelivered: Int

    enum CodingKeys: String, CodingKey {
        case id, session, user, text, instance, rerun
        case repliesDelivered = "replies_delivered"
    }

    public init(id: String, session: String, user: String, text: String, instance: String, rerun: Bool = false, repliesDelivered: Int = 0) {
        self.id = id
        self.session = session
        self.user = user
        self.text = text
        self.instance = instance
        self.rerun = rerun
        self.repliesDelivered = repliesDelivered
    }
}

/// An agent back-end: answers one message per turn.
///
/// A turn ends when ``runTurn(_:reply:)`` returns. Interrupting a turn cancels the task
/// running it; an agent must stop promptly on cancellation and release what it holds.
public protocol Agent: Sendable {
    var kind: AgentConfiguration.Kind { get }

    /// Runs one turn, calling `reply` with each piece of text as the agent produces it.
    ///
    /// It starts on the caller's executor, the gateway's, as `reply` does (SE-0461): a
    /// turn that answers at once (the demo agent) costs no hop between threads. An agent
    /// that works between its awaits (reading a process's output, parsing a stream)
    /// declares its implementation `@concurrent`, so that work runs off the gateway.
    nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws
}

/// Why an agent could not answer; the description goes to the session as an `error` notice.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The agent's health probe failed past the threshold while the turn ran.
        case agentUnreachable = "agent_unreachable"
        /// The agent answered, but with a failure.
        case agentFailed = "agent_failed"
        /// The turn ran past `agent.turn_timeout`.
        case turnTimeout = "turn_timeout"
    }

    public let code: Code
    public let description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}
