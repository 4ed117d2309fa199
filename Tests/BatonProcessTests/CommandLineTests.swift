import BatonTestSupport
import Foundation
import Glibc
import Testing

/// `baton` commands against a real `baton serve`, or against nothing.
@Suite struct CommandLineTests {
    @Test func anInvalidValueInTheEnvironmentExits78NamingTheKey() async throws {
        try await withBatonFixture { baton in
            for command in ["serve", "check-config"] {
                let result = try await baton.baton(command, environment: ["BATON_DRAIN_TIMEOUT": "soon"])
                #expect(result.termination == .exited(78), "\(result)")
                #expect(result.errors.contains("drain.timeout"), "\(result)")
                #expect(result.errors.contains("BATON_DRAIN_TIMEOUT"), "\(result)")
            }
        }
    }

    /// The unit's `ExecStart=baton serve`: no arguments, the configuration from
    /// `BATON_CONFIG`, served in full and stopped cleanly.
    @Test func serveAloneReadsTheConfigurationFromTheEnvironmentAndServes() async throws {
        try await withBatonFixture { baton in
            let server = try await baton.startServer(configurationInEnvironment: true)
            let status = try await baton.client.status()
            #expect(status.pid == server.pid)
            #expect(status.state == "ready")
            let sent = try await baton.client.send(session: "plain", text: "hello")
            let events = try await baton.client.events(session: "plain") { $0.firstReply(to: sent.id) != nil }
            #expect(events.firstReply(to: sent.id) != nil, "\(events)")
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0), "\(baton.serverLogs)")
        }
    }

    @Test func anUnknownKeyInTheFileExits78NamingItAndTheNearestKnownOne() async throws {
        try await withBatonFixture { baton in
            let file = try baton.directory.write("drain:\n  timout: 5\n", to: "typo.yaml")
            for command in ["serve", "check-config"] {
                let result = try await baton.baton(command, "--config", file)
                #expect(result.termination == .exited(78), "\(result)")
                #expect(result.errors.contains("drain.timout"), "\(result)")
                #expect(result.errors.contains("drain.timeout"), "the nearest key is suggested: \(result)")
            }
            let valid = try await baton.baton("check-config")
            #expect(valid.termination == .exited(0), "\(valid)")
        }
    }

    @Test("baton status finds a user unit's gateway from a shell, with its configuration named and even while that is invalid")
    func controlCommandsFindTheUnitsSocket() async throws {
        try await withBatonFixture { baton in
            // As a user unit runs it: the file names no runtime_directory, systemd gives
            // the process RUNTIME_DIRECTORY=$XDG_RUNTIME_DIR/baton; a shell has neither.
            let file = baton.configuration.yaml.split(separator: "\n").filter { !$0.hasPrefix("runtime_directory:") }.joined(separator: "\n")
            let configuration = try baton.directory.write(file + "\n", to: "unit.yaml")
            let xdg = baton.directory.appending("xdg")
            let server = try baton.launch(
                ["serve", "--config", configuration], environment: ["RUNTIME_DIRECTORY": (xdg as NSString).appendingPathComponent("baton")])
            _ = try await eventually("the gateway to serve", timeout: .seconds(30)) { try? await baton.client.status() }
            let shell = ["XDG_RUNTIME_DIR": xdg]
            let found = try await baton.baton("status", "--config", configuration, environment: shell)
            #expect(found.termination == .exited(0), "\(found)")
            #expect(found.output.contains("\(server.pid)") || found.output.contains("ready"), "\(found)")

            try baton.directory.write("drain:\n  timeout: soon\n", to: "unit.yaml")
            let whileBroken = try await baton.baton("status", "--config", configuration, environment: shell)
            #expect(whileBroken.termination == .exited(0), "\(whileBroken)")
            #expect(whileBroken.errors.contains("drain.timeout"), "the problem is still told: \(whileBroken)")
        }
    }

    @Test("A listen host that resolves to nothing is a configuration error (78), for serve and check-config alike")
    func anUnresolvableListenHostExits78() async throws {
        try await withBatonFixture { baton in
            for command in ["serve", "check-config"] {
                let result = try await baton.baton(command, environment: ["BATON_LISTEN": "nosuchhost.invalid:8080"])
                #expect(result.termination == .exited(78), "\(result)")
                #expect(result.errors.contains("listen: names the host nosuchhost.invalid, which resolves to no address"), "\(result)")
            }
        }
    }

    @Test("baton units writes a unit that reads the named configuration, needs no secret only the unit can read, and waits for the network a Matrix bot needs")
    func unitsNamesTheConfigurationAndNeedsNoSecret() async throws {
        try await withBatonFixture({
            // The access token only in a credential the unit loads: not readable here.
            $0.extraYAML = "matrix:\n  homeserver: https://matrix.example.org\n  user_id: \"@baton:example.org\"\n"
        }) { baton in
            let result = try await baton.baton("units", "--config", baton.configurationPath)
            #expect(result.termination == .exited(0), "\(result)")
            #expect(result.output.contains("Environment=\"BATON_CONFIG=\(baton.configurationPath)\"\n"), "\(result.output)")
            #expect(result.output.contains("After=network-online.target\n") && result.output.contains("Wants=network-online.target\n"))
            let serve = try await baton.baton("check-config", "--config", baton.configurationPath)
            #expect(serve.termination == .exited(78), "serving still needs the token: \(serve)")
        }
    }

    @Test("baton restart --wait during a stop drain fails at once: a stop wins, no next process will start")
    func restartWaitDuringAStopFailsAtOnce() async throws {
        try await withBatonFixture({ $0.agentDelay = 60; $0.drainTimeout = 60 }) { baton in
            let server = try await baton.startServer()
            _ = try await baton.client.send(session: "s", text: "a long turn")
            let stop = try await baton.baton("stop")
            #expect(stop.termination == .exited(0), "\(stop)")
            let restart = try await baton.baton("restart", "--wait", timeout: .seconds(20))
            #expect(restart.termination == .exited(1), "\(restart)")
            #expect(restart.errors.contains("a stop wins over a restart"), "\(restart)")
            _ = try await baton.baton("stop", "--now")
            #expect(try await server.exit() == .exited(0))
        }
    }

    @Test(
        "A socket passed without a name (systemd-socket-activate without --fdname, a socket unit without FileDescriptorName=) is served",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate")))
    func anUnnamedPassedSocketIsServed() async throws {
        try await withBatonFixture { baton in
            let port = baton.configuration.port
            let log = baton.directory.appending("activate.log")
            let activator = try ChildProcess(
                "/usr/bin/systemd-socket-activate", arguments: ["-l", "127.0.0.1:\(port)", baton.binary, "serve", "--config", baton.configurationPath],
                environment: baton.environment(), directory: baton.directory.path, outputPath: log, errorPath: log)
            // The first connection starts baton, which must serve the socket it was given
            // rather than bind `listen` beside it.
            let sent = try await eventually("a message taken on the passed socket", timeout: .seconds(30)) {
                try? await baton.client.send(session: "s", text: "through the passed socket")
            }
            _ = try await baton.client.events(session: "s") { $0.firstReply(to: sent.id) != nil }
            await activator.kill()
        }
    }

    @Test(
        "Every socket passed under the name http is served, each once (systemd-socket-activate with two addresses)",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-socket-activate")))
    func everyPassedSocketIsServed() async throws {
        try await withBatonFixture { baton in
            let port = baton.configuration.port, secondPort = try LocalPort.free()
            let log = baton.directory.appending("activate.log")
            let activator = try ChildProcess(
                "/usr/bin/systemd-socket-activate",
                arguments: [
                    "-l", "127.0.0.1:\(port)", "-l", "127.0.0.1:\(secondPort)", "--fdname=http:http", baton.binary, "serve", "--config",
                    baton.configurationPath,
                ],
                environment: baton.environment(), directory: baton.directory.path, outputPath: log, errorPath: log)
            let other = BatonHTTPClient(port: secondPort)
            defer { Task { try? await other.shutdown() } }
            let first = try await eventually("a message taken on the first socket", timeout: .seconds(30)) {
                try? await baton.client.send(session: "one", text: "through the first socket")
            }
            let second = try await eventually("a message taken on the second socket", timeout: .seconds(10)) {
                try? await other.send(session: "two", text: "through the second socket")
            }
            #expect(first.instance == second.instance, "one process serves both")
            _ = try await other.events(session: "two") { $0.firstReply(to: second.id) != nil }
            await activator.kill()
        }
    }

    @Test("With the configuration invalid and nothing found where a gateway usually listens, baton status cannot tell (1), not \"not running\" (3)")
    func anInvalidConfigurationMakesNotRunningUncertain() async throws {
        try await withBatonFixture { baton in
            let broken = try baton.directory.write("drain:\n  timeout: soon\n", to: "broken.yaml")
            let result = try await baton.baton("status", "--config", broken)
            #expect(result.termination == .exited(1), "\(result)")
            #expect(result.errors.contains("may not be where the gateway listens"), "\(result)")
        }
    }

    @Test func controlCommandsExit3WhenNothingRuns() async throws {
        try await withBatonFixture { baton in
            for arguments in [["status"], ["status", "--json"], ["restart"], ["restart", "--wait"], ["stop", "--wait"]] {
                let process = try baton.launch(arguments)
                let termination = try await process.exit(within: .seconds(30))
                #expect(termination == .exited(3), "baton \(arguments): \(process.errors)")
                #expect(process.errors.contains("not running"), "baton \(arguments): \(process.errors)")
            }
        }
    }

    @Test("A control socket that does not answer is a failure (exit 1), not \"not running\"")
    func aControlSocketThatDoesNotAnswerIsAFailure() async throws {
        try await withBatonFixture { baton in
            // Listening, never answering: the connection is taken by the kernel's backlog.
            let path = baton.directory.appending("silent.sock")
            let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(listener) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(bound == 0 && listen(listener, 8) == 0)
            let status = try await baton.baton("status", "--socket", path, timeout: .seconds(30))
            #expect(status.termination == .exited(1), "\(status)")
            #expect(status.errors.contains("no answer within 10 s") && !status.errors.contains("not running"), "\(status)")
        }
    }

    /// Whether a process with this id runs (not gone, nor a zombie waiting to be collected).
    static func runs(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return false
        }
        return stat[stat.index(after: close)...].trimmingPrefix(" ").first != "Z"
    }

    @Test func statusDescribesTheRunningGateway() async throws {
        try await withBatonFixture { baton in
            let server = try await baton.startServer()
            let status = try await baton.client.status()
            // Well under the control client's 10 s read timeout: the answer must end the
            // exchange, not the timeout (it once did, and every command took 10 s).
            let json = try await baton.baton("status", "--json", timeout: .seconds(8))
            #expect(json.termination == .exited(0), "\(json)")
            let reported = try JSONDecoder.snakeCase.decode(GatewayStatusBody.self, from: Data(json.output.utf8))
            #expect(reported.instance == status.instance)
            #expect(reported.pid == server.pid)
            #expect(reported.state == "ready")
            let text = try await baton.baton("status")
            #expect(text.termination == .exited(0), "\(text)")
            #expect(text.output.contains(status.instance))
        }
    }

    @Test func stopWaitReturnsOnceTheProcessIsGone() async throws {
        try await withBatonFixture({ $0.agentDelay = 1 }) { baton in
            let client = baton.client
            let server = try await baton.startServer()
            try await withEventFollowers(client, sessions: ["s"]) { logs in
                try await logs["s"]!.waitUntilOpen()
                let slow = try await client.send(session: "s", text: "let me finish")
                let stop = try await baton.baton("stop", "--wait")
                #expect(stop.termination == .exited(0), "\(stop)")
                #expect(!Self.runs(server.pid), "`--wait` returned while the process runs")
                // `--wait` returned, so the process has exited; this only collects its status.
                let serverEnded = try await server.exit(within: .seconds(5))
                #expect(serverEnded == .exited(0), "\(baton.serverLogs)")
                let events = logs["s"]!.events
                #expect(try #require(events.firstReply(to: slow.id)) < (events.firstGoodbye ?? -1), "\(events)")
            }
        }
    }

    @Test func restartWaitReturnsOnceTheNextProcessIsReady() async throws {
        try await withBatonFixture({ $0.agentDelay = 1 }) { baton in
            let client = baton.client
            let first = try await baton.startServer()
            let before = try await client.status()
            _ = try await client.send(session: "s", text: "in flight during the restart")
            let restart = try baton.launch(["restart", "--wait"])
            let firstEnded = try await first.exit()
            #expect(firstEnded == .exited(75), "\(baton.serverLogs)")
            // Without systemd, the test is the supervisor that starts the next process.
            let second = try await baton.startServer()
            #expect(try await restart.exit(within: .seconds(60)) == .exited(0), "\(restart.errors)")
            let after = try await client.status()
            #expect(after.instance != before.instance)
            #expect(restart.output.contains("Instance \(after.instance) is ready"), "\(restart.output)")
            second.send(SIGTERM)
            let secondEnded = try await second.exit()
            #expect(secondEnded == .exited(0), "\(baton.serverLogs)")
        }
    }

    @Test func restartNowInterruptsTheTurnAndTheNextProcessRunsItAgain() async throws {
        try await withBatonFixture({ $0.agentDelay = 60; $0.drainTimeout = 60 }) { baton in
            let client = baton.client
            let first = try await baton.startServer()
            try await withEventFollowers(client, sessions: ["s"]) { logs in
                let log = logs["s"]!
                try await log.waitUntilOpen()
                let slow = try await client.send(session: "s", text: "cut short")
                let restart = try await baton.baton("restart", "--now")
                #expect(restart.termination == .exited(0), "\(restart)")
                let firstEnded = try await first.exit(within: .seconds(20))
                #expect(firstEnded == .exited(75), "\(baton.serverLogs)")
                #expect(log.events.firstNotice("interrupted", about: slow.id) != nil, "\(log.events)")

                let second = try await baton.startServer(environment: ["BATON_AGENT_DELAY": "0.1"])
                let events = try await log.waitForReplies(to: [slow])
                #expect(events.replyTargets == [slow.id])
                second.send(SIGTERM)
                let secondEnded = try await second.exit()
                #expect(secondEnded == .exited(0), "\(baton.serverLogs)")
            }
        }
    }
}

extension JSONDecoder {
    static var snakeCase: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
