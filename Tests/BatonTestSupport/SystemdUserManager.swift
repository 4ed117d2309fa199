import Foundation
import Glibc

/// A real systemd user manager (`/lib/systemd/systemd --user`) in a private mount
/// namespace, as `shared/SYSTEMD.md` shows: a tmpfs on `/run` (so `/run/systemd/system`
/// exists without touching the real one), `XDG_RUNTIME_DIR=/run/user/0`, and every other
/// XDG directory inside the test's own directory, so no unit or state lands in a real home.
///
/// Needs root (for `unshare --mount`). ``withSystemdUserManager(_:)`` stops the manager and
/// kills every process left in its namespace, whatever the test did.
public final class SystemdUserManager: Sendable {
    public static let managerExecutable = "/lib/systemd/systemd"

    /// Why the manager cannot run here, or nil when it can.
    public static let unavailableReason: String? = {
        if geteuid() != 0 { return "needs root for a private mount namespace (unshare --mount); CI runs as root" }
        for tool in [managerExecutable, "/usr/bin/unshare", "/usr/bin/nsenter", "/usr/bin/systemctl"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing"
        }
        return nil
    }()

    public static var isAvailable: Bool { unavailableReason == nil }

    public let directory: TemporaryDirectory
    /// Where user units go (`$XDG_CONFIG_HOME/systemd/user`).
    public let unitDirectory: String
    /// The manager (unshare execs it, so this is systemd itself).
    public let process: ChildProcess
    /// The manager's mount namespace (`/proc/PID/ns/mnt`), to find what runs inside it.
    public let mountNamespace: String
    private let notifications: NotifySocket
    private let environment: [String: String]

    /// Starts the manager and waits for its own `READY=1`.
    public static func start(in directory: TemporaryDirectory) async throws -> SystemdUserManager {
        if let unavailableReason { throw CompletedProcess.CommandFailed(description: "systemd user manager: \(unavailableReason)") }
        let environment: [String: String] = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": try directory.subdirectory("home"),
            "LANG": "C.UTF-8",
            "XDG_RUNTIME_DIR": "/run/user/0",
            "XDG_CONFIG_HOME": try directory.subdirectory("config"),
            "XDG_STATE_HOME": try directory.subdirectory("xdg-state"),
            "XDG_DATA_HOME": try directory.subdirectory("xdg-data"),
            "XDG_CACHE_HOME": try directory.subdirectory("xdg-cache"),
        ]
        let unitDirectory = try directory.subdirectory("config/systemd/user")
        let notifications = try NotifySocket(path: directory.appending("manager-notify.sock"))
        // A control group of its own: managers in the same group all put baton.service in
        // the same /app.slice/baton.service and stop each other's processes.
        let cgroups = Self.controlGroups(for: directory)
        let join = cgroups.map { "mkdir -p \($0) && echo $$ > \($0)/cgroup.procs" }.joined(separator: " && ")
        let script = "\(join) && mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system /run/user/0 && exec \(managerExecutable) --user"
        let process: ChildProcess
        do {
            process = try ChildProcess(
                "/usr/bin/unshare", arguments: ["--mount", "--propagation", "private", "/bin/sh", "-c", script],
                environment: environment.merging(["NOTIFY_SOCKET": notifications.path]) { $1 },
                directory: directory.path, outputPath: directory.appending("manager.log"), errorPath: directory.appending("manager.log"))
        } catch {
            notifications.close()
            throw error
        }
        do {
            try await notifications.wait(for: "READY", value: "1", timeout: .seconds(30))
        } catch {
            // Whatever it reached, its namespace is the one to clear.
            await Self.stop(process, mountNamespace: Self.mountNamespace(of: process.pid), notifications: notifications)
            Self.removeControlGroups(for: directory)
            throw CompletedProcess.CommandFailed(description: "systemd --user did not start: \(error)\n\(directory.read("manager.log"))")
        }
        return SystemdUserManager(
            directory: directory, unitDirectory: unitDirectory, process: process, notifications: notifications,
            environment: environment)
    }

    private init(
        directory: TemporaryDirectory, unitDirectory: String, process: ChildProcess, notifications: NotifySocket,
        environment: [String: String]
    ) {
        self.directory = directory
        self.unitDirectory = unitDirectory
        self.process = process
        self.notifications = notifications
        self.environment = environment
        // Read once the manager is up: by then unshare has moved it into its own namespace.
        mountNamespace = Self.mountNamespace(of: process.pid) ?? ""
    }

    /// Runs `systemctl --user <arguments>` inside the manager's namespace.
    @discardableResult
    public func systemctl(_ arguments: String..., check: Bool = true, timeout: Duration = .seconds(60)) async throws -> CompletedProcess {
        try await systemctl(arguments, check: check, timeout: timeout)
    }

    @discardableResult
    public func systemctl(_ arguments: [String], check: Bool = true, timeout: Duration = .seconds(60)) async throws -> CompletedProcess {
        let completed = try await run(["/usr/bin/systemctl", "--user", "--no-pager"] + arguments, timeout: timeout)
        return check ? try completed.checked() : completed
    }

    /// Runs a command inside the manager's mount namespace with the manager's environment.
    public func run(_ command: [String], timeout: Duration = .seconds(60)) async throws -> CompletedProcess {
        try await ChildProcess.run(
            "/usr/bin/nsenter", arguments: ["--target", String(process.pid), "--mount", "--"] + command,
            environment: environment, directory: directory.path, timeout: timeout)
    }

    /// `systemctl --user show -p …` as a dictionary.
    public func show(_ unit: String, _ properties: [String]) async throws -> [String: String] {
        let output = try await systemctl(["show", unit] + properties.flatMap { ["-p", $0] }).output
        var values: [String: String] = [:]
        for line in output.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            values[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return values
    }

    /// One property of `unit`.
    public func property(_ unit: String, _ name: String) async throws -> String {
        try await show(unit, [name])[name] ?? ""
    }

    /// Writes a unit file into the user unit directory.
    public func install(unit name: String, contents: String) throws {
        try contents.write(toFile: (unitDirectory as NSString).appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    /// Writes `<unit>.d/<name>.conf`.
    public func installDropIn(for unit: String, named name: String, contents: String) throws {
        let folder = (unitDirectory as NSString).appendingPathComponent("\(unit).d")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try contents.write(toFile: (folder as NSString).appendingPathComponent("\(name).conf"), atomically: true, encoding: .utf8)
    }

    /// Stops the manager (it stops its units first), then kills whatever is left in its
    /// namespace: nothing the test started outlives it.
    func stop() async {
        await Self.stop(process, mountNamespace: mountNamespace, notifications: notifications)
        Self.removeControlGroups(for: directory)
    }

    /// The manager's control groups (the unified hierarchy and systemd's legacy one, on a
    /// hybrid host), named after its directory.
    static func controlGroups(for directory: TemporaryDirectory) -> [String] {
        let name = (directory.path as NSString).lastPathComponent
        return ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"]
            .filter { FileManager.default.fileExists(atPath: "\($0)/cgroup.procs") }
            .prefix(2)
            .map { "\($0)/\(name)" }
    }

    /// Removes the manager's control groups, deepest first, once their processes are gone.
    static func removeControlGroups(for directory: TemporaryDirectory) {
        for root in controlGroups(for: directory) {
            for _ in 0..<50 {
                guard FileManager.default.fileExists(atPath: root) else { break }
                let nested = (FileManager.default.subpaths(atPath: root) ?? [])
                    .map { "\(root)/\($0)" }
                    .filter { FileManager.default.fileExists(atPath: "\($0)/cgroup.procs") }
                    .sorted { $0.count > $1.count }
                for group in nested + [root] { rmdir(group) }
                // Killed processes leave their groups a moment later.
                if FileManager.default.fileExists(atPath: root) { usleep(20_000) }
            }
        }
    }

    private static func stop(_ process: ChildProcess, mountNamespace: String?, notifications: NotifySocket) async {
        if process.terminated == nil {
            process.send(SIGTERM)
            if (try? await process.exit(within: .seconds(30))) == nil { await process.kill() }
        }
        for pid in processes(inMountNamespace: mountNamespace) { kill(pid, SIGKILL) }
        notifications.close()
    }

    /// The mount namespace of `pid` (the target of `/proc/PID/ns/mnt`).
    static func mountNamespace(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt")
    }

    /// Processes in `namespace`, never when it is this process's own namespace.
    static func processes(inMountNamespace namespace: String?) -> [Int32] {
        let own = getpid()
        guard let namespace, !namespace.isEmpty, namespace != mountNamespace(of: own),
            let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return [] }
        return entries.compactMap(Int32.init).filter { pid in pid != own && mountNamespace(of: pid) == namespace }
    }
}

/// Runs `body` with a fresh systemd user manager, then stops it and everything it started.
public func withSystemdUserManager<T: Sendable>(_ body: (SystemdUserManager) async throws -> T) async throws -> T {
    let directory = try TemporaryDirectory(prefix: "baton-sd")
    let manager: SystemdUserManager
    do {
        manager = try await SystemdUserManager.start(in: directory)
    } catch {
        directory.remove()
        throw error
    }
    do {
        let result = try await body(manager)
        await manager.stop()
        directory.remove()
        return result
    } catch {
        FileHandle.standardError.write(Data("systemd test failed: \(error)\n\(manager.diagnostics)\n".utf8))
        await manager.stop()
        directory.remove()
        throw error
    }
}

extension SystemdUserManager {
    /// Logs worth seeing when a test fails: the manager's and Baton's.
    public var diagnostics: String {
        ["manager.log", "baton.log"].map { "--- \($0)\n\(directory.read($0))" }.joined()
    }
}
