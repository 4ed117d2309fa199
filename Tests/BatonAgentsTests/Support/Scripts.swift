import Foundation

/// The agents in `examples/` the tests run.
enum Scripts {
    static let examples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples")

    static let execExample = examples.appendingPathComponent("exec-agent.py").path
    static let httpExample = examples.appendingPathComponent("http-agent.py").path
    static let execTestAgent = examples.appendingPathComponent("test-agents/exec-test-agent.py").path
    static let httpTestAgent = examples.appendingPathComponent("test-agents/http-test-agent.py").path
}
