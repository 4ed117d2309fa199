import Foundation
import Glibc
import Synchronization

/// A `baton serve` process started by a test.
public struct BatonServer: Sendable {
    public let process: ChildProcess
    /// Its systemd-style notifications (`READY=1`, `STOPPING=1`, `STATUS=…`).
    public let notifications: NotifySocket

    public var pid: Int32 { process.pid }

    public func send(_ signal: Int32) { process.send(signal) }

    /// Waits for the process to exit; fails after `timeout`.
    @discardableResult
    public func exit(within timeout: Duration = .seconds(30)) async throws -> Termination {
        try await process.exit(within: timeout)
    }

    /// Waits for the status that says a drain has begun ("Draining for restart: …", or
    /// "Stopping…" when nothing was in flight); only a stop also sends `STOPPING=1`.
    public func drainStarted(timeout: Duration = .seconds(10)) async throws {
        try await notifications.wait(for: "STATUS=Draining…", timeout: timeout) { message in
            guard let status = message["STATUS"] else { return false }
            return status.hasPrefix("Draining") || status.hasPrefix("Stopping")
        }
    }
}

/// One test's Baton: a directory with its configuration, store and logs; the servers and
/// commands it started; an HTTP client for its port. ``withBatonFixture(_:_:)`` tears it
/// all down, whatever the test did.
public final class BatonFixture: Sendable {
    public let directory: TemporaryDirectory
    public let configuration: BatonTestConfiguration
    public let configurationPath: String
    public let binary: String
    public let client: BatonHTTPClient
    private let started = Mutex<(processes: [ChildProcess], sockets: [NotifySocket])>(([], []))

    init(configure: (inout BatonTestConfiguration) -> Void) throws {
        binary = try BatonBinary.path()
        directory = try TemporaryDirectory()
        var configuration = BatonTestConfiguration(
            port: try LocalPort.free(), stateDirectory: directory.appending("state"), runtimeDirectory: directory.appending("run"))
        configure(&configuration)
        self.configuration = configuration
        configurationPath = try directory.write(configuration.yaml, to: "baton.yaml")
        client = BatonHTTPClient(port: configuration.port)
    }

    /// The environment `baton` runs with: the test's, cleaned, plus `extra`.
    public func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ProcessInfo.cleanEnvironment.merging(extra) { $1 }
    }

    /// Starts `baton serve --config <file>` with a notification socket and waits for `READY=1`.
    ///
    /// `launcher` runs before `baton` and execs it with the rest of the command line
    /// (`prlimit --nofile=…`, or a shell that sets a umask), so the pid stays baton's.
    /// `configurationInEnvironment` starts `baton serve` alone, the file named by
    /// `BATON_CONFIG`, as the shipped unit starts it.
    public func startServer(
        environment extra: [String: String] = [:], launcher: [String] = [], waitUntilReady: Bool = true,
        configurationInEnvironment: Bool = false
    ) async throws -> BatonServer {
        let number = started.withLock { $0.processes.count + 1 }
        let notifications = try NotifySocket(path: directory.appending("notify-\(number).sock"))
        started.withLock { $0.sockets.append(notifications) }
        let log = directory.appending("serve-\(number).log")
        let command = launcher + [binary, "serve"] + (configurationInEnvironment ? [] : ["--config", configurationPath])
        var settings = ["NOTIFY_SOCKET": notifications.path]
        if configurationInEnvironment { settings["BATON_CONFIG"] = configurationPath }
        let process = try ChildProcess(
            command[0], arguments: Array(command.dropFirst()),
            environment: environment(settings.merging(extra) { $1 }),
            directory: directory.path, outputPath: log, errorPath: log)
        started.withLock { $0.processes.append(process) }
        let server = BatonServer(process: process, notifications: notifications)
        if waitUntilReady {
            do {
                try await withTimeout(.seconds(30), waitingFor: "READY=1 from baton serve (pid \(process.pid))") {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await notifications.wait(for: "READY", value: "1", timeout: .seconds(30)) }
                        group.addTask {
                            let ended = try await process.exit(within: .seconds(30))
                            throw CompletedProcess.CommandFailed(description: "baton serve ended before READY=1 with \(ended)")
                        }
                        defer { group.cancelAll() }
                        try await group.next()
                    }
                }
            } catch {
                throw CompletedProcess.CommandFailed(description: "\(error)\n--- \(log)\n\(directory.read((log as NSString).lastPathComponent))")
            }
        }
        return server
    }

    /// Starts `baton <arguments>` with the fixture's configuration, without waiting for it.
    public func launch(_ arguments: [String], environment extra: [String: String] = [:]) throws -> ChildProcess {
        let number = started.withLock { $0.processes.count + 1 }
        let process = try ChildProcess(
            binary, arguments: arguments, environment: environment(["BATON_CONFIG": configurationPath].merging(extra) { $1 }),
            directory: directory.path, outputPath: directory.appending("command-\(number).out"),
            errorPath: directory.appending("command-\(number).err"))
        started.withLock { $0.processes.append(process) }
        return process
    }

    /// Runs `baton <arguments>` with the fixture's configuration to its end.
    public func baton(
        _ arguments: String..., environment extra: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws -> CompletedProcess {
        let process = try launch(arguments, environment: extra)
        let termination = try await process.exit(within: timeout)
        return CompletedProcess(
            command: "baton " + arguments.joined(separator: " "), termination: termination, output: process.output, errors: process.errors)
    }

    /// What every server wrote to standard error, for failure messages.
    public var serverLogs: String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("serve-") }.sorted().map { "--- \($0)\n\(directory.read($0))" }.joined()
    }

    func tearDown() async {
        let (processes, sockets) = started.withLock { ($0.processes, $0.sockets) }
        for process in processes { await process.kill() }
        for socket in sockets { socket.close() }
        try? await client.shutdown()
        directory.remove()
    }
}

/// Runs `body` with a fresh ``BatonFixture`` and tears it down afterwards: every process
/// it started is killed and its directory removed, also when `body` throws.
public func withBatonFixture<T: Sendable>(
    _ configure: (inout BatonTestConfiguration) -> Void = { _ in },
    _ body: (BatonFixture) async throws -> T
) async throws -> T {
    let fixture = try BatonFixture(configure: configure)
    do {
        let result = try await body(fixture)
        await fixture.tearDown()
        return result
    } catch {
        FileHandle.standardError.write(Data("Baton fixture failed: \(error)\n\(fixture.serverLogs)\n".utf8))
        await fixture.tearDown()
        throw error
    }
}
