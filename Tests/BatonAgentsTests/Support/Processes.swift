import Foundation
import Subprocess

/// The processes a test's exec agent started, as it wrote them down.
enum Processes {
    /// The process ids the exec test agent wrote for message `id` under `directory`.
    static func written(in directory: String, for id: String) throws -> [Int32] {
        let text = try String(contentsOfFile: (directory as NSString).appendingPathComponent("\(id).pids"), encoding: .utf8)
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// Whether every process in `pids` has exited, waiting up to `timeout` for them
    /// (on their pidfds, in the exec test agent's `wait-gone`).
    static func allGone(_ pids: [Int32], timeout: Duration = .seconds(10)) async throws -> Bool {
        let seconds = Double(timeout.components.seconds)
        let result = try await Subprocess.run(
            .name("python3"), arguments: Arguments([Scripts.execTestAgent, "wait-gone", "\(seconds)"] + pids.map { "\($0)" }),
            output: .discarded)
        return result.terminationStatus == .exited(0)
    }

    /// A fresh temporary directory for process id files.
    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("baton-pids-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
