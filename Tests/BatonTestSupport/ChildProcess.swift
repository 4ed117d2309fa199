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
///
/// Spawned with `posix_spawn` and reaped by a thread of its own blocked in `waitpid`:
/// Foundation's `Process` learns of an exit through a socket the child inherits, and
/// systemd closes every inherited descriptor at start, which stalls Foundation's
/// bookkeeping for every process (a `systemd --user` is one of ours).
public final class ChildProcess: Sendable {
    public let executable: String
    public let arguments: [String]
    public let pid: Int32
    /// Files holding what the process wrote to standard output and standard error.
    public let outputPath: String
    public let errorPath: String
    private let termination: ObservedState<Termination?>

    /// Starts `executable` with exactly `environment`, in its own process group, with
    /// default signal handling and no inherited descriptors but standard input
    /// (/dev/null), output and error (appended to the files).
    public init(
        _ executable: String,
        arguments: [String],
        environment: [String: String],
        directory: String? = nil,
        outputPath: String,
        errorPath: String
    ) throws {
        let output = open(outputPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let errors = errorPath == outputPath ? output : open(errorPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        let input = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer {
            for fd in Set([output, errors, input]) where fd >= 0 { Glibc.close(fd) }
        }
        guard output >= 0, errors >= 0, input >= 0 else { throw Self.posixError() }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, errors, 2)
        if let directory { try SpawnExtensions.addChangeDirectory(&actions, directory) }
        SpawnExtensions.addCloseFrom(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0)=\($1)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw POSIXError(.init(rawValue: spawned) ?? .EIO) }

        let termination = ObservedState<Termination?>(nil)
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0, errno == EINTR {}
            let ended: Termination = status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
            termination.update { $0 = ended }
        }
        self.executable = executable
        self.arguments = arguments
        self.pid = pid
        self.outputPath = outputPath
        self.errorPath = errorPath
        self.termination = termination
    }

    private static func posixError() -> POSIXError { POSIXError(.init(rawValue: errno) ?? .EIO) }

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

/// glibc's `posix_spawn` extensions that Swift's Glibc module does not show, looked up at run time.
private enum SpawnExtensions {
    private typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: type)
    }

    /// Closes every descriptor from `lowest` up in the child (glibc 2.34+), else each one open now.
    static func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ lowest: Int32) {
        if let closeFrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: CloseFrom.self) {
            _ = closeFrom(&actions, lowest)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap(Int32.init) where fd >= lowest {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    static func addChangeDirectory(_ actions: inout posix_spawn_file_actions_t, _ directory: String) throws {
        guard let changeDirectory = symbol("posix_spawn_file_actions_addchdir_np", as: ChangeDirectory.self) else {
            throw POSIXError(.ENOSYS)
        }
        _ = directory.withCString { changeDirectory(&actions, $0) }
    }
}
