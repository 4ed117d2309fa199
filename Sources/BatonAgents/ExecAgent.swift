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
/// out, the group gets SIGTERM, then SIGKILL after `drain.interrupt_grace`
/// (``ProcessGroupStop``): the process's output is read until it exits, so what it says
/// while it shuts down reaches the log, and the rest of its group has what is left of
/// the grace. Once the turn is over, whatever is left of the group is killed, so no
/// process of a turn outlives it. (SIGKILL to the gateway itself cannot be caught: under systemd the
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
        let stop = ProcessGroupStop(grace: interruptGrace)
        // The process runs in a task an interrupt does not cancel: it is stopped by
        // signals instead, its output read until it ends (``ProcessGroupStop``).
        let status: TerminationStatus
        var parser: ExecOutputParser
        do {
            // `reply` does not outlive this call: the task is awaited to its end, whatever
            // happens to this one.
            (status, parser) = try await withoutActuallyEscaping(reply) { reply in
                let process = Task { try await self.run(input, stop: stop, reply: reply, logger: logger) }
                return try await withTaskCancellationHandler {
                    try await process.value
                } onCancel: {
                    stop.interrupt { process.cancel() }
                }
            }
        } catch {
            stop.killRemains()
            if stop.isInterrupted || error is CancellationError { throw CancellationError() }
            if let error = error as? AgentError { throw error }
            logger.warning("Agent process failed", metadata: ["baton.error": "\(error)", "baton.command": "\(command[0])"])
            throw AgentError(.agentFailed, "The agent could not be run (\(command[0])): \(Self.describe(error))")
        }
        if stop.isInterrupted {
            // The rest of the group (the agent behind a wrapper that died at SIGTERM)
            // has the rest of the grace.
            await stop.waitForGroupToEnd()
            stop.killRemains()
            throw CancellationError()
        }
        stop.killRemains()
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

    /// Runs the turn's process to its end: its input written, its standard error logged,
    /// its standard output parsed into replies, none once the turn is interrupted.
    private func run(
        _ input: Data, stop: ProcessGroupStop, reply: @escaping @Sendable (String) async throws -> Void, logger: Logger
    ) async throws -> (TerminationStatus, ExecOutputParser) {
        var options = PlatformOptions()
        // A group of its own: the agent's children get the signals too, and the
        // terminal's Ctrl-C goes to the gateway alone, which decides what to interrupt.
        options.processGroupID = 0
        // Only when the reading is cancelled, after SIGKILL (``ProcessGroupStop``).
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .milliseconds(100))]
        let result = try await Subprocess.run(
            executable, arguments: Arguments(Array(command.dropFirst())), environment: Self.environment,
            platformOptions: options,
            input: .inputWriter, output: .sequence, error: .sequence
        ) { execution in
            stop.started(group: execution.processIdentifier.value)
            logger.debug("Agent process started", metadata: ["baton.pid": "\(execution.processIdentifier.value)"])
            return try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await Self.write(input, to: execution.standardInputWriter, logger: logger) }
                tasks.addTask { await Self.log(execution.standardError, logger: logger) }
                var parser = ExecOutputParser()
                for try await chunk in execution.standardOutput {
                    for text in try chunk.withUnsafeBytes({ bytes throws(AgentError) in try parser.consume(bytes) }) {
                        // An interrupted turn says nothing more while its process stops.
                        guard !stop.isInterrupted else { continue }
                        try await reply(text)
                    }
                    if let overflow = parser.overflow { throw overflow }
                }
                try await tasks.waitForAll()
                return parser
            }
        }
        return (result.terminationStatus, result.closureResult)
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

    /// Logs each line of standard error as it comes, up to ``stderrBudget`` bytes a turn;
    /// what comes after that is counted, and told in one line at the end. An agent that
    /// talks on and on would otherwise fill the journal and reach its rate limit, which
    /// then drops Baton's own lines.
    private static func log(_ stderr: SubprocessOutputSequence, logger: Logger) async {
        var lines = LineBuffer()
        var logged = 0
        var dropped = 0
        func take(_ line: [UInt8]) {
            guard logged < stderrBudget else {
                dropped += line.count + 1
                return
            }
            logged += line.count + 1
            logLine(line, logger: logger)
        }
        do {
            for try await chunk in stderr {
                for line in chunk.withUnsafeBytes({ lines.append($0) }) { take(line) }
                if lines.pendingCount > maxLogLine, let line = lines.finish() { take(line) }
            }
        } catch {
            logger.debug("Agent standard error could not be read", metadata: ["baton.error": "\(error)"])
        }
        if let line = lines.finish() { take(line) }
        if dropped > 0 {
            logger.warning(
                "Agent standard error past \(stderrBudget / 1024) KiB in this turn was not logged",
                metadata: ["baton.bytes_not_logged": "\(dropped)"])
        }
    }

    private static let maxLogLine = 16 * 1024
    /// Bytes of an agent's standard error logged per turn.
    public static let stderrBudget = 64 * 1024

    private static func logLine(_ line: [UInt8], logger: Logger) {
        logger.info("Agent stderr: \(String(decoding: line.prefix(maxLogLine), as: UTF8.self))")
    }

    private static func describe(_ error: any Error) -> String {
        guard let error = error as? SubprocessError else { return "\(error)" }
        return error.code == .executableNotFound ? "the program was not found or cannot be executed" : error.description
    }
}
