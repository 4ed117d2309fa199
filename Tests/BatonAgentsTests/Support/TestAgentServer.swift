import AsyncHTTPClient
import Foundation
import NIOCore
import Subprocess

/// An HTTP agent service on a loopback port: a Python script the test starts, and can
/// make slow, failing or unhealthy, or kill.
struct TestAgentServer: Sendable {
    let port: Int
    /// What the script printed to standard output.
    let output: OutputLines
    private let signal: @Sendable (Signal) -> Void

    var url: String { "http://127.0.0.1:\(port)" }

    /// Runs `script` (the test agent unless told otherwise) for `body`, then stops it.
    ///
    /// - Parameter port: 0 for any free port; the port of an earlier server to take its place.
    @discardableResult
    static func run<T: Sendable>(
        script: String = Scripts.httpTestAgent, port: Int = 0, _ body: (TestAgentServer) async throws -> T
    ) async throws -> T {
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: .seconds(2))]
        let output = OutputLines()
        let result = try await Subprocess.run(
            .name("python3"), arguments: ["-u", script, "--port", "\(port)"], platformOptions: options,
            input: .none, output: .sequence, error: .discarded
        ) { execution in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { output.finish() }
                    for try await line in execution.standardOutput.strings() { output.append(line) }
                }
                defer { try? execution.send(signal: .terminate) }
                // Printed once the socket is bound.
                let listening = try await output.first("that it listens", timeout: .seconds(30)) { $0.hasPrefix("listening on ") }
                guard let port = listening.split(separator: ":").last.flatMap({ Int($0) }) else {
                    throw TestFailure("\(script) printed no port: \(listening)")
                }
                return try await body(TestAgentServer(port: port, output: output, signal: { try? execution.send(signal: $0) }))
            }
        }
        return result.closureResult
    }

    /// SIGKILL: the agent dies mid-turn, its connections with it.
    func kill() {
        signal(.kill)
    }

    /// What `GET /health` answers from now on: `ok`, `fail` (503) or `hang`.
    func setHealth(_ mode: String) async throws {
        var request = HTTPClientRequest(url: "\(url)/control")
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: #"{"health": "\#(mode)"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        guard response.status.code == 200 else { throw TestFailure("POST /control answered \(response.status.code)") }
    }
}
