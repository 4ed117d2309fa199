import Foundation

/// `baton.service` (and `baton.socket`) from the repository's `units/`, installed in a
/// ``SystemdUserManager`` with a drop-in that runs the built binary on a test configuration.
public struct BatonUnit: Sendable {
    public let manager: SystemdUserManager
    public let configuration: BatonTestConfiguration
    public let configurationPath: String
    /// Where the service's standard output and error go (there is no journal here).
    public let logPath: String
    public let client: BatonHTTPClient

    public static let service = "baton.service"
    public static let socket = "baton.socket"

    /// The unit files as shipped in `units/` (or in `BATON_TEST_UNITS`, a folder of
    /// candidate units to try instead).
    public static func shippedUnit(_ name: String) throws -> String {
        let folder = ProcessInfo.processInfo.environment["BATON_TEST_UNITS"] ?? "\(BatonBinary.repositoryRoot)/units"
        return try String(contentsOfFile: "\(folder)/\(name)", encoding: .utf8)
    }

    /// The service's main process, 0 when none runs.
    public func mainPID() async throws -> Int32 {
        Int32(try await manager.property(Self.service, "MainPID")) ?? 0
    }

    /// `NRestarts` of the service.
    public func restarts() async throws -> Int {
        Int(try await manager.property(Self.service, "NRestarts")) ?? -1
    }

    /// SIGKILLs the service's processes and waits for systemd's relaunch (`Restart=on-failure`)
    /// to answer; returns the new instance.
    public func killMainProcess(replacing instance: String) async throws -> String {
        // The main process only: signalling the whole cgroup races with systemd tearing it
        // down and setting it up again between processes ("No such device").
        try await manager.systemctl("kill", "--kill-whom=main", "--signal=KILL", Self.service)
        // Requests wait in the listen backlog (systemd holds the socket) for the next process;
        // one that reached the killed process just fails and is asked again.
        return try await eventually("a new process after SIGKILL", timeout: .seconds(30)) { [client] in
            guard let status = try? await client.status(), status.instance != instance, status.state == "ready" else { return nil }
            return status.instance
        }
    }

    /// The service's log so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Log lines that show a process ending other than by a drain: a crash, a fatal error,
    /// a critical failure (which exits 1 where 75 or 0 was due).
    public var failureLines: [String] {
        log.split(separator: "\n").map(String.init).filter { line in
            ["Program crashed", "Fatal error", " critical "].contains { line.contains($0) }
        }
    }
}

extension SystemdUserManager {
    /// The shipped unit's sandboxing that a root user manager in a test's mount namespace
    /// cannot set up (no dynamic users, no nested mount namespaces for these, no cgroup
    /// BPF for IP filters; and root without capabilities or in a user namespace cannot
    /// use the state directory the user manager made). Everything else of the hardened
    /// unit stays in force.
    static let userManagerLimits = [
        "DynamicUser=no",
        "PrivateUsers=no",
        "CapabilityBoundingSet=~",
        "ProtectHome=no",
        "PrivateTmp=no",
        "ProtectKernelTunables=no",
        "ProtectKernelLogs=no",
        "IPAddressDeny=",
    ]

    /// Installs `units/baton.service` and a drop-in pointing `ExecStart` at the built
    /// binary with a test configuration; with `socketActivated`, also `units/baton.socket`
    /// with its `ListenStream=` moved to the test's port. Then `daemon-reload`.
    public func installBaton(
        socketActivated: Bool = false,
        serviceSettings: [String] = [],
        _ configure: (inout BatonTestConfiguration) -> Void = { _ in }
    ) async throws -> BatonUnit {
        // No state_directory: under systemd Baton takes $STATE_DIRECTORY, as the unit sets it.
        var configuration = BatonTestConfiguration(
            port: try LocalPort.free(), stateDirectory: nil, runtimeDirectory: directory.appending("run"))
        configure(&configuration)
        let configurationPath = try directory.write(configuration.yaml, to: "baton.yaml")
        let logPath = directory.appending("baton.log")
        try install(unit: BatonUnit.service, contents: try BatonUnit.shippedUnit(BatonUnit.service))
        let dropIn =
            [
                "[Service]",
                "ExecStart=",
                "ExecStart=\(try BatonBinary.path()) serve --config \(configurationPath)",
                "StandardOutput=append:\(logPath)",
                "StandardError=append:\(logPath)",
                // The test's configuration and control socket live in its directory.
                "ReadWritePaths=\(directory.path)",
            ] + Self.userManagerLimits + serviceSettings
        try installDropIn(for: BatonUnit.service, named: "test", contents: dropIn.joined(separator: "\n") + "\n")
        if socketActivated {
            try install(unit: BatonUnit.socket, contents: try BatonUnit.shippedUnit(BatonUnit.socket))
            try installDropIn(
                for: BatonUnit.socket, named: "test",
                contents: "[Socket]\nListenStream=\nListenStream=127.0.0.1:\(configuration.port)\n")
        }
        try await systemctl("daemon-reload")
        return BatonUnit(
            manager: self, configuration: configuration, configurationPath: configurationPath, logPath: logPath,
            client: BatonHTTPClient(port: configuration.port))
    }
}

/// Runs `body` with `baton.service` installed in a fresh systemd user manager; afterwards
/// shuts the client down and stops the manager with everything it started.
public func withBatonUnit<T: Sendable>(
    socketActivated: Bool = false,
    serviceSettings: [String] = [],
    _ configure: (inout BatonTestConfiguration) -> Void = { _ in },
    _ body: (BatonUnit) async throws -> T
) async throws -> T {
    try await withSystemdUserManager { manager in
        let unit = try await manager.installBaton(socketActivated: socketActivated, serviceSettings: serviceSettings, configure)
        do {
            let result = try await body(unit)
            try? await unit.client.shutdown()
            return result
        } catch {
            try? await unit.client.shutdown()
            throw error
        }
    }
}
