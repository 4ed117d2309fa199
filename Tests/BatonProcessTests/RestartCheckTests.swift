import BatonTestSupport
import Foundation
import Glibc
import Testing

/// A restart reads the configuration again first: into one the next process would exit
/// 78 for, it is refused and the running process keeps serving (`nginx -t` before a reload).
@Suite struct RestartCheckTests {
    @Test("A restart into a configuration the next process would exit 78 for is refused, however asked; the process keeps serving, and restarts once it is fixed")
    func aRestartIntoABadConfigurationIsRefused() async throws {
        try await withBatonFixture { baton in
            let server = try await baton.startServer()
            let instance = try await baton.client.status().instance
            var broken = baton.configuration
            broken.agentCommand = [baton.directory.appending("no-such-agent")]
            try baton.directory.write(broken.yaml, to: "baton.yaml")

            let check = try await baton.baton("check-config")
            #expect(check.termination == .exited(78), "\(check)")
            #expect(check.errors.contains("no-such-agent"), "\(check)")

            server.send(SIGUSR1)
            let restart = try await baton.baton("restart", "--wait")
            #expect(restart.termination == .exited(1), "\(restart)")
            #expect(restart.errors.contains("Restart refused") && restart.errors.contains("agent.command"), "\(restart)")
            let chat = try await baton.client.post(session: "ops", user: "alice", text: "/restart")
            #expect(chat.status == 409, "\(chat.text)")
            #expect(chat.text.contains("no-such-agent"), "\(chat.text)")

            // Still this process, serving as before.
            let status = try await baton.client.status()
            #expect(status.instance == instance && status.state == "ready", "\(status)")
            let sent = try await baton.client.send(session: "s", text: "still here")
            let events = try await baton.client.events(session: "s") { $0.firstReply(to: sent.id) != nil }
            #expect(events.firstReply(to: sent.id) != nil)
            #expect(baton.serverLogs.contains("Restart refused"), "\(baton.serverLogs)")
            let metrics = try await baton.client.metrics()
            #expect(metrics["baton_restarts_refused_total"] == 3, "SIGUSR1, baton restart and /restart")
            #expect(metrics[#"baton_drains_total{reason="restart"}"#] == 0)

            try baton.directory.write(baton.configuration.yaml, to: "baton.yaml")
            server.send(SIGUSR1)
            #expect(try await server.exit() == .exited(75), "\(baton.serverLogs)")
        }
    }

    @Test("The binary on disk, the one systemd starts next, decides: an upgrade installed since the start is asked, not the running binary")
    func theBinaryOnDiskIsAsked() async throws {
        try await withBatonFixture { baton in
            let installed = try InstalledBinary(copying: baton)
            let server = try await installed.startServer(baton)
            try installed.replace(with: "#!/bin/sh\necho 'baton: invalid configuration: refused by the binary installed since' >&2\nexit 78\n")
            let refused = try await baton.client.post(session: "ops", user: "alice", text: "/restart")
            #expect(refused.status == 409, "\(refused.text)")
            #expect(refused.text.contains("refused by the binary installed since"), "\(refused.text)")

            try installed.replace(with: "#!/bin/sh\nexit 0\n")
            server.send(SIGUSR1)
            #expect(try await server.exit() == .exited(75), "\(baton.serverLogs)")
        }
    }

    @Test("A SIGTERM while a restart's check of an installed upgrade still runs stops the process at once: the check does not hold it up")
    func aStopDoesNotWaitForARestartCheck() async throws {
        try await withBatonFixture { baton in
            let installed = try InstalledBinary(copying: baton)
            let server = try await installed.startServer(baton)
            // An upgrade whose check hangs (until the check's own 20 s limit).
            try installed.replace(with: "#!/bin/sh\nexec sleep 60\n")
            server.send(SIGUSR1)
            // The check has started: it runs as a process of its own.
            _ = try await eventually("the check of the installed binary to run", timeout: .seconds(10), interval: .milliseconds(50)) {
                let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/task")) ?? []
                let children = threads.map { (try? String(contentsOfFile: "/proc/\(server.pid)/task/\($0)/children", encoding: .utf8)) ?? "" }
                return children.joined().split(separator: " ").isEmpty ? nil : true
            }
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0), "\(baton.serverLogs)")
            let logs = baton.serverLogs
            let stop = try #require(logs.range(of: "reason=stop") ?? logs.range(of: "\"baton.reason\":\"stop\""), "\(logs)")
            let refusal = logs.range(of: "Restart refused")
            #expect(refusal.map { $0.lowerBound > stop.lowerBound } ?? true, "the stop waited for the restart's check:\n\(logs)")
        }
    }
}

/// The fixture's binary copied to a folder of its own and run from there, as an installed
/// `baton` is; another file installed at its path is what an upgrade leaves.
private struct InstalledBinary {
    let path: String

    init(copying baton: BatonFixture) throws {
        let bin = baton.directory.appending("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        path = (bin as NSString).appendingPathComponent("baton")
        try FileManager.default.copyItem(atPath: baton.binary, toPath: path)
    }

    /// Runs the installed copy in place of the fixture's binary.
    func startServer(_ baton: BatonFixture) async throws -> BatonServer {
        try await baton.startServer(launcher: ["/bin/sh", "-c", "shift; exec \"$0\" \"$@\"", path])
    }

    /// Installs `script` at the binary's path, as a package upgrade does (a new file
    /// renamed over it; the running process keeps the old one).
    func replace(with script: String) throws {
        let next = path + ".new"
        try script.write(toFile: next, atomically: false, encoding: .utf8)
        chmod(next, 0o755)
        rename(next, path)
    }
}
