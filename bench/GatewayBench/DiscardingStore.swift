import BatonCore
import Foundation
import Synchronization

/// A store that keeps nothing: each commit waits as long as a synced commit would, gives
/// appended events their session's next id, and counts what a gateway's turns wrote, so
/// the benchmark sees the gateway's own cost and still checks that every message was
/// answered.
final class DiscardingStore: Store {
    struct Counts {
        var messages = 0
        var replies = 0
        var done = 0
        var commits = 0
    }

    private struct State {
        var lastEventIDs: [String: Int64] = [:]
        var counts = Counts()
    }

    private let state = Mutex(State())
    /// How long a commit takes: stands in for the disk's sync, so writes gather into
    /// commits as they do over SQLite.
    let commitTime: Duration

    init(commitTime: Duration) {
        self.commitTime = commitTime
    }

    var counts: Counts { state.withLock { $0.counts } }

    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] {
        try await Task.sleep(for: commitTime)
        return state.withLock { state in
            state.counts.commits += 1
            return groups.map { group in
                var events: [SessionEvent] = []
                for write in group {
                    switch write {
                    case .insertMessage: state.counts.messages += 1
                    case .setState(_, .done): state.counts.done += 1
                    case .appendReply: state.counts.replies += 1
                    default: break
                    }
                    guard var event = write.event else { continue }
                    event.id = state.lastEventIDs[event.session, default: 0] + 1
                    state.lastEventIDs[event.session] = event.id
                    events.append(event)
                }
                return .success(events)
            }
        }
    }

    func message(id: String) async throws -> Message? { nil }
    func pendingMessages() async throws -> [Message] { [] }
    func pendingMessages(session: String) async throws -> [Message] { [] }
    func events(session: String, after: Int64, limit: Int) async throws -> [SessionEvent] { [] }
    func lastEventIDs(sessionsStartingWith prefix: String) async throws -> [String: Int64] { [:] }
    func lastEventID(session: String) async throws -> Int64 { state.withLock { $0.lastEventIDs[session] ?? 0 } }
    func messageCount() async throws -> Int { counts.messages }
    func prune(before cutoff: Date, after: Int64, limit: Int) async throws -> StorePruning { StorePruning() }
    func cursor(network: String) async throws -> String? { nil }
    func deliveryPositions(network: String) async throws -> [String: Int64] { [:] }
    func hasMark(network: String, mark: String) async throws -> Bool { false }
}
