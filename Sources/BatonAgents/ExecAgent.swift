import BatonCore
import Foundation
import Logging
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `agent.kind: exec`: one process per turn, started from `agent.command` without a shell.
///
/// The turn's ``TurnRequest`` goes to the process's standard input as one line of JSON,
/// then standard input is closed. What the process writes to standard output is the
/// reply (see ``ExecOutputParser``: `{"text": ...}` JSON lines, each a reply as it comes,
/// or plain text, one reply); standard error goes to the log, line by line, with the
/// session and message id. A non-zero exit fails the turn with an `error` notice naming
/// the status.
///
/// Each process leads a process group of its own. When the turn is interrupted or times
/// out, the group gets SIGTERM, then SIGKILL after `drain.interrupt_grace`; once the
/// turn is over, whatever is left of the group is killed, so no process of a turn
/// outlives it. (SIGKILL to the gateway itself cannot be caught: under systemd the
/// unit's cgroup is killed with it.)
///
/// The process inherits the gateway's environment and working directory, less the
/// variables that are the gateway's alone (``environment``), and no other descriptor.
///
/// The gateway must ignore SIGPIPE (`baton serve` does), so that an agent that exits
/// without reading its input does not take the gateway with it.
public struct ExecAgent: Agent {
    /// The program to run and its arguments.
    public let command: [String]
    /// How long an interrupted process has between SIGTERM and SIGKILL.
    public let interruptGrace: Duration
    let logger: Logger

    /// - Parameters:
    ///   - command: the program and its arguments; a program without a `/` is looked up in `PATH`.
    ///   - interruptGrace: time between SIGTERM and SIGKILL when a turn is interrupted.
    public init(command: [String], interruptGrace: Duration, logger: Logger) {
        precondition(!command.isEmpty, "agent.command must name a program")
        self.command = command
        self.interruptGrace = interruptGrace
        self.logger = logger
    }

    public var kind: AgentConfiguration.Kind { .exec }

    @concurrent public func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
        let logger = turnLogger(turn)
        let input = try WireFormat.encoder.encode(turn) + [UInt8(ascii: "\n")]

        var options = PlatformOptions()
        // A group of its own: the agent's children get the signals too, and the
        // terminal's Ctrl-C goes to the gateway alone, which decides what to interrupt.
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: interruptGrace)]

        var group: pid_t?
        let status: TerminationStatus
        var parser: ExecOutputParser
        do {
            let result = try await Subprocess.run(
                executable, arguments: Arguments(Array(command.dropFirst())), environment: Self.environment,
                platformOptions: options,
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                group = execution.processIdentifier.value
                logger.debug("Agent process started", metadata: ["baton.pid": "\(execution.processIdentifier.value)"])
                return try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { await Self.write(input, to: execution.standardInputWriter, logger: logger) }
                    tasks.addTask { await Self.log(execution.standardError, logger: logger) }
                    var parser = ExecOutputParser()
                    for try await chunk in execution.standardOutput {
                        for text in try chunk.withUnsafeBytes({ bytes throws(AgentError) in try parser.consume(bytes) }) {
                            // An interrupted turn says nothing more, even while the process
                            // is still being stopped.
                            try Task.checkCancellation()
                            try await reply(text)
                        }
                    }
                    try await tasks.waitForAll()
                    return parser
                }
            }
            status = result.terminationStatus
            parser = result.closureResult
        } catch {
            Self.killRemains(of: group)
            if Task.isCancelled || error is CancellationError { throw CancellationError() }
            if let error = error as? AgentError { throw error }
            logger.warning("Agent process failed", metadata: ["baton.error": "\(error)", "baton.command": "\(command[0])"])
            throw AgentError(.agentFailed, "The agent could not be run (\(command[0])): \(Self.describe(error))")
        }
        Self.killRemains(of: group)
        try Task.checkCancellation()

        switch status {
        case .exited(0):
            for text in parser.finish() { try await reply(text) }
        case .exited(let code):
            logger.warning("Agent process exited with status \(code)")
            throw AgentError(
                .agentFailed, "The agent exited with status \(code) before it had answered; its error output is in the gateway's log.")
        case .signaled(let signal):
            logger.warning("Agent process was killed by signal \(signal)")
            throw AgentError(.agentFailed, "The agent was killed by signal \(signal) before it had answered.")
        }
    }

    private func turnLogger(_ turn: TurnRequest) -> Logger {
        var logger = logger
        logger[metadataKey: "baton.session"] = "\(turn.session)"
        logger[metadataKey: "baton.message"] = "\(turn.id)"
        logger[metadataKey: "baton.instance"] = "\(turn.instance)"
        return logger
    }

    /// The gateway's environment without what is the gateway's alone: systemd's
    /// notification, socket and watchdog variables, and the secrets the gateway may be
    /// given in its environment (API tokens, the Matrix access token, the store's URL with
    /// its password).
    static let environment = Environment.inherit.updating([
        "NOTIFY_SOCKET": nil, "LISTEN_FDS": nil, "LISTEN_PID": nil, "LISTEN_FDNAMES": nil,
        "WATCHDOG_USEC": nil, "WATCHDOG_PID": nil, "BATON_API_TOKENS": nil,
        "BATON_MATRIX_ACCESS_TOKEN": nil, "BATON_STORE_URL": nil,
    ])

    private var executable: Executable {
        command[0].contains("/") ? .path(FilePath(command[0])) : .name(command[0])
    }

    /// Writes the turn and closes standard input. An agent that exits without reading
    /// it is not an error of the turn: its exit status tells.
    private static func write(_ input: Data, to writer: StandardInputWriter, logger: Logger) async {
        do {
            _ = try await writer.write(Array(input))
            try await writer.finish()
        } catch {
            logger.debug("Agent did not read its input", metadata: ["baton.error": "\(error)"])
            try? await writer.finish()
        }
    }

    /// Logs each line of standard error as it comes.
    private static func log(_ stderr: SubprocessOutputSequence, logger: Logger) async {
        var lines = LineBuffer()
        do {
            for try await chunk in stderr {
                for line in chunk.withUnsafeBytes({ lines.append($0) }) { logLine(line, logger: logger) }
                if lines.pendingCount > maxLogLine, let line = lines.finish() { logLine(line, logger: logger) }
            }
        } catch {
            logger.debug("Agent standard error could not be read", metadata: ["baton.error": "\(error)"])
        }
        if let line = lines.finish() { logLine(line, logger: logger) }
    }

    private static let maxLogLine = 16 * 1024

    private static func logLine(_ line: [UInt8], logger: Logger) {
        logger.info("Agent stderr: \(String(decoding: line.prefix(maxLogLine), as: UTF8.self))")
    }

    /// Kills what is left of a turn's process group: children that outlived the process
    /// that started them, or that ignored SIGTERM while it did not.
    private static func killRemains(of group: pid_t?) {
        // The group id stays taken while any member lives, so it cannot name a stranger.
        guard let group, group > 0 else { return }
        _ = kill(-group, SIGKILL)
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? SubprocessError else { return "\(error)" }
        return error.code == .executableNotFound ? "the program was not found or cannot be executed" : error.description
    }
}
