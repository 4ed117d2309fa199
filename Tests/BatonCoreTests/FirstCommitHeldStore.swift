@testable import BatonCore
import BatonTestSupport
import Synchronization

/// A SQLite store whose first commit (of those `holds` picks: any, unless told) waits
/// until the test fails it or lets it through; every other call goes to the store.
final class FirstCommitHeldStore: ForwardingStore {
    struct Refused: Error {}

    let base: SQLiteStore
    private let (started, startedSignal) = AsyncStream.makeStream(of: Void.self)
    /// Whether the held commit fails.
    private let (outcomes, outcome) = AsyncStream.makeStream(of: Bool.self)
    private let commits = Mutex(0)
    private let holds: @Sendable ([[StoreWrite]]) -> Bool

    init(_ base: SQLiteStore) {
        self.base = base
        holds = { _ in true }
    }

    init(_ base: SQLiteStore, holding holds: @escaping @Sendable ([[StoreWrite]]) -> Bool) {
        self.base = base
        self.holds = holds
    }

    /// Returns once the first commit waits.
    func firstCommitStarted() async {
        for await _ in started { return }
    }

    func failFirstCommit() {
        outcome.yield(true)
    }

    func letFirstCommitThrough() {
        outcome.yield(false)
    }

    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        guard holds(groups) else { return try await base.commit(groups) }
        let number = commits.withLock { count in
            count += 1
            return count
        }
        if number == 1 {
            startedSignal.yield()
            var fails = true
            for await failing in outcomes {
                fails = failing
                break
            }
            if fails { throw Refused() }
        }
        return try await base.commit(groups)
    }
}
