@testable import BatonCore
import Foundation

/// A store that hands every call to a SQLite store: a test double implements only the
/// calls it makes wait or fail.
protocol ForwardingStore: Store {
    var base: SQLiteStore { get }
}

extension ForwardingStore {
    var commitExecutor: (any TaskExecutor)? { nil }
    func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] { try await base.commit(groups) }
    func message(id: String) async throws -> Message? { try base.message(id: id) }
    func pendingMessages() async throws -> [Message] { try base.pendingMessages() }
    func pendingMessages(session: String) async throws -> [Message] { try base.pendingMessages(session: session) }
    func events(session: String, after: Int64, limit: Int) async throws -> [SessionEvent] {
        try base.events(session: session, after: after, limit: limit)
    }
    func lastEventIDs(sessionsStartingWith prefix: String) async throws -> [String: Int64] {
        try await base.lastEventIDs(sessionsStartingWith: prefix)
    }
    func lastEventID(session: String) async throws -> Int64 { try await base.lastEventID(session: session) }
    func messageCount() async throws -> Int { try base.messageCount() }
    func prune(before cutoff: Date, after: Int64, limit: Int) async throws -> StorePruning {
        try await base.prune(before: cutoff, after: after, limit: limit)
    }
    func cursor(network: String) async throws -> String? { try await base.cursor(network: network) }
    func deliveryPositions(network: String) async throws -> [String: Int64] { try await base.deliveryPositions(network: network) }
    func hasMark(network: String, mark: String) async throws -> Bool { try await base.hasMark(network: network, mark: mark) }
}
