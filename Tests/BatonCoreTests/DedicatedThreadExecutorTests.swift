import BatonCore
import Foundation
import Synchronization
import Testing

@Suite("Dedicated thread executor")
struct DedicatedThreadExecutorTests {
    @Test("Tasks that prefer it run on its thread, one after another, in the order they came")
    func runsOnItsThread() async {
        let executor = DedicatedThreadExecutor(name: "test-dedicated")
        let runs = Runs()
        let tasks = (0..<50).map { index in
            Task(executorPreference: executor) { runs.record(index, on: Self.threadName()) }
        }
        for task in tasks { await task.value }
        #expect(runs.indexes == Array(0..<50))
        #expect(runs.threads == ["test-dedicated"])
    }

    @Test("Each executor's thread has its own name, whichever thread made it")
    func eachThreadHasItsOwnName() async {
        let names = (0..<12).map { "test-named-\($0)" }
        var executors: [DedicatedThreadExecutor] = []
        for name in names { executors.append(DedicatedThreadExecutor(name: name)) }
        var seen: [String?] = []
        for executor in executors {
            seen.append(await Task(executorPreference: executor) { Self.threadName() }.value)
        }
        #expect(seen == names)
    }

    @Test("A SQLite store's commit executor is a named thread of its own, and a commit stores its event")
    func storeHasACommitThread() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-commit-thread-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(directory: directory)
        let executor = try #require(store.commitExecutor)
        let thread = await Task(executorPreference: executor) { Self.threadName() }.value
        #expect(thread == "baton-store")
        let event = SessionEvent(session: "s", id: 0, kind: .notice, data: "{}")
        let results = try await store.commit([[.appendEvent(event)]])
        #expect(try results.first?.get().first?.id == 1)
    }

    private static func threadName() -> String? {
        Thread.current.name
    }

    /// Which task ran, and on which thread, in the order they ran.
    private final class Runs: Sendable {
        private let runs = Mutex<[(index: Int, thread: String?)]>([])

        func record(_ index: Int, on thread: String?) {
            runs.withLock { $0.append((index, thread)) }
        }

        var indexes: [Int] { runs.withLock { $0.map(\.index) } }
        var threads: Set<String?> { Set(runs.withLock { $0.map(\.thread) }) }
    }
}
