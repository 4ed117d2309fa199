import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// A real Synapse homeserver for a test: its own folder, SQLite, a free loopback port,
/// rate limits lifted, users registered with the shared secret.
///
/// Synapse comes from the virtual environment `scripts/synapse.sh` installs
/// (`.venv-synapse/`, or `BATON_SYNAPSE_PYTHON`).
public final class Synapse: Sendable {
    public let directory: TemporaryDirectory
    public let port: Int
    public let serverName = "baton.test"
    private let python: String
    private let process = ObservedState<ChildProcess?>(nil)
    private let starts = ObservedState(0)

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Writes the configuration, with `extraConfiguration` (YAML) at its end, and starts
    /// Synapse; returns once it answers.
    public init(extraConfiguration: String = "") async throws {
        python = try Self.pythonPath()
        directory = try TemporaryDirectory(prefix: "baton-synapse")
        port = try LocalPort.free()
        _ = try directory.write(configuration + extraConfiguration, to: "homeserver.yaml")
        try await start()
    }

    /// Starts Synapse again (after ``stop()``) on the same port and database.
    public func start() async throws {
        starts.update { $0 += 1 }
        let number = starts.value
        let log = directory.appending("synapse-\(number).log")
        let child = try ChildProcess(
            python, arguments: ["-m", "synapse.app.homeserver", "-c", directory.appending("homeserver.yaml")],
            environment: ProcessInfo.cleanEnvironment, directory: directory.path, outputPath: log, errorPath: log)
        process.update { $0 = child }
        let client = MatrixTestHTTP(baseURL: baseURL)
        defer { client.close() }
        do {
            _ = try await eventually("Synapse answering on port \(port)", timeout: .seconds(60), interval: .milliseconds(200)) {
                if let ended = child.terminated { throw TimeoutError("Synapse exited with \(ended)") }
                return (try? await client.request("GET", "/_matrix/client/versions", expect: 200)) == nil ? nil : true
            }
        } catch {
            throw TimeoutError("\(error)\n--- \(log)\n\(directory.read((log as NSString).lastPathComponent).suffix(3000))")
        }
    }

    /// Stops Synapse (SIGTERM) and waits for it to exit.
    public func stop() async throws {
        guard let child = process.value else { return }
        child.send(SIGTERM)
        _ = try await child.exit(within: .seconds(30))
        process.update { $0 = nil }
    }

    /// Registers `name` (an admin of the server when `admin`) and logs in as it.
    public func register(_ name: String, admin: Bool = false) async throws -> MatrixTestUser {
        let password = "password-\(name)-0123456789"
        let registration = try await ChildProcess.run(
            (python as NSString).deletingLastPathComponent + "/register_new_matrix_user",
            arguments: ["-u", name, "-p", password, admin ? "-a" : "--no-admin", "-c", directory.appending("homeserver.yaml"), baseURL],
            environment: ProcessInfo.cleanEnvironment, directory: directory.path)
        _ = try registration.checked()
        return try await MatrixTestUser.login(name, password: password, server: self)
    }

    /// Kills Synapse and removes its folder.
    public func tearDown() async {
        await process.value?.kill()
        directory.remove()
    }

    /// The Synapse python: `BATON_SYNAPSE_PYTHON`, else `.venv-synapse/bin/python`.
    static func pythonPath() throws -> String {
        let candidates = [
            ProcessInfo.processInfo.environment["BATON_SYNAPSE_PYTHON"],
            (BatonBinary.repositoryRoot as NSString).appendingPathComponent(".venv-synapse/bin/python"),
        ].compactMap { $0 }.filter { !$0.isEmpty }
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw BatonBinary.NotFound(description: "no Synapse at \(candidates.joined(separator: " or ")): run scripts/synapse.sh (scripts/test.sh does)")
        }
        return found
    }

    private var configuration: String {
        let limit = "{per_second: 10000, burst_count: 100000}"
        return """
            server_name: "\(serverName)"
            pid_file: \(directory.appending("homeserver.pid"))
            listeners:
              - port: \(port)
                bind_addresses: ['127.0.0.1']
                type: http
                tls: false
                x_forwarded: false
                resources:
                  - names: [client]
                    compress: false
            database:
              name: sqlite3
              args:
                database: \(directory.appending("homeserver.db"))
            media_store_path: \(directory.appending("media"))
            signing_key_path: \(directory.appending("signing.key"))
            registration_shared_secret: "shared-secret-for-tests-0123456789"
            macaroon_secret_key: "macaroon-secret-for-tests-0123456789"
            form_secret: "form-secret-for-tests-0123456789"
            report_stats: false
            trusted_key_servers: []
            federation_domain_whitelist: []
            suppress_key_server_warning: true
            enable_registration: false
            presence:
              enabled: false
            rc_message: \(limit)
            rc_registration: \(limit)
            rc_login:
              address: \(limit)
              account: \(limit)
              failed_attempts: \(limit)
            rc_joins:
              local: \(limit)
              remote: \(limit)
            rc_joins_per_room: \(limit)
            rc_invites:
              per_room: \(limit)
              per_user: \(limit)
              per_issuer: \(limit)
            rc_room_creation: \(limit)
            rc_profile: \(limit)

            """
    }
}

/// Runs `body` with a fresh ``Synapse`` and tears it down afterwards, also when it throws.
public func withSynapse<T: Sendable>(extraConfiguration: String = "", _ body: (Synapse) async throws -> T) async throws -> T {
    let synapse = try await Synapse(extraConfiguration: extraConfiguration)
    do {
        let result = try await body(synapse)
        await synapse.tearDown()
        return result
    } catch {
        FileHandle.standardError.write(Data("Synapse logs at \(synapse.directory.path)\n".utf8))
        await synapse.tearDown()
        throw error
    }
}
