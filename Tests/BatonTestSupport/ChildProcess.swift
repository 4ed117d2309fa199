import Foundation
import Glibc

/// How a child process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signalled(Int32)

    public var description: String {
        switch self {
        case .exited(let status): "exit status \(status)"
        case .signalled(let signal): "killed by signal \(signal)"
        }
    }
}

/// A process started by a test: signals, its exit awaited as an event, its output kept
/// in files so that nothing blocks on a full pipe.
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    public let pid: Int32
    /// Files holding what the process wrote to standard output and standard error.
    public let outputPath: String
    public let errorPath: String
    private let termination: ObservedState<Termination?>
    /// Kept so Foundation keeps watching the process until it exits.
    private let process: Process

    /// Starts `executable` with exactly `environment`; standard input is /dev/null.
    public init(
        _ executable: String,
        arguments: [String],
        environment: [String: String],
        directory: String? = nil,
        outputPath: String,
        errorPath: String
    ) throws {
        for path in [outputPath, errorPath] where !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardInput = FileHandle.nullDevice
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
        let errors = outputPath == errorPath ? output : try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        output.seekToEndOfFile()
        errors.seekToEndOfFile()
        process.standardOutput = output
        process.standardError = errors
        let termination = ObservedState<Termination?>(nil)
        process.terminationHandler = { process in
            let ended: Termination =
                process.terminationReason == .uncaughtSignal ? .signalled(process.terminationStatus) : .exited(process.terminationStatus)
            termination.update { $0 = ended }
        }
        try process.run()
        // The child has its own copies; ours are not needed.
        try? output.close()
        if errors !== output { try? errors.close() }
        self.executable = executable
        self.arguments = arguments
        self.pid = process.processIdentifier
        self.outputPath = outputPath
        self.errorPath = errorPath
        self.termination = termination
        self.process = process
    }

    /// How it ended, or nil while it runs.
    public var terminated: Termination? { termination.value }

    /// Sends `signal`, unless the process has already ended.
    public func send(_ signal: Int32) {
        guard terminated == nil else { return }
        Glibc.kill(pid, signal)
    }

    /// Waits for the process to end; fails with ``TimeoutError`` after `timeout`.
    @discardableResult
    public func exit(within timeout: Duration) async throws -> Termination {
        let termination = self.termination
        let name = (executable as NSString).lastPathComponent
        return try await withTimeout(timeout, waitingFor: "\(name) (pid \(pid)) to exit") {
            try await termination.wait { $0 }
        }
    }

    /// Ends the process for good: SIGKILL, then waits for it to be reaped.
    public func kill() async {
        send(SIGKILL)
        _ = try? await exit(within: .seconds(10))
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    public var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    /// Runs a command to its end and returns how it ended and what it printed.
    public static func run(
        _ executable: String,
        arguments: [String],
        environment: [String: String] = ProcessInfo.processInfo.environment,
        directory: String? = nil,
        timeout: Duration = .seconds(60)
    ) async throws -> CompletedProcess {
        let scratch = try TemporaryDirectory(prefix: "baton-run")
        defer { scratch.remove() }
        let child = try ChildProcess(
            executable, arguments: arguments, environment: environment, directory: directory,
            outputPath: scratch.appending("stdout"), errorPath: scratch.appending("stderr"))
        let termination: Termination
        do {
            termination = try await child.exit(within: timeout)
        } catch {
            await child.kill()
            throw error
        }
        return CompletedProcess(
            command: ([executable] + arguments).joined(separator: " "), termination: termination, output: child.output,
            errors: child.errors)
    }
}

/// A command that ran to its end.
public struct CompletedProcess: Sendable, CustomStringConvertible {
    public let command: String
    public let termination: Termination
    public let output: String
    public let errors: String

    public var description: String {
        "`\(command)` ended with \(termination)\n--- stdout\n\(output)--- stderr\n\(errors)"
    }

    /// Throws unless the command exited 0.
    @discardableResult
    public func checked() throws -> CompletedProcess {
        guard termination == .exited(0) else { throw CommandFailed(description: description) }
        return self
    }

    public struct CommandFailed: Error, CustomStringConvertible {
        public let description: String
    }
}
