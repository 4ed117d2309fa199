import BatonCore
import Foundation

/// A store that hands every call to a SQLite store: a test double implements only the
/// calls it makes wait or fail.
public protocol ForwardingStore: Store {
    var base: SQLiteStore { get }
}

extension ForwardingStore {
    public var commitExecutor: (any TaskExecutor)? { nil }
    public func commit(_ groups: [[StoreWrite]]) async throws -> [Result<[SessionEvent], any Error>] { try await base.commit(groups) }
    public func message(id: String) async throws -> Message? { try base.message(id: id) }
    public func pendingMessages() async throws -> [Message] { try base.pendingMessages() }
    public func pendingMessages(session: String) async throws -> [Message] { try base.pendingMessages(session: session) }
    public func events(session: String, after: Int64, limit: Int) async throws -> [SessionEvent] {
        try base.events(session: session, after: after, limit: limit)
    }
    public func lastEventIDs(sessionsStartingWith prefix: String) async throws -> [String: Int64] {
        try await base.lastEventIDs(sessionsStartingWith: prefix)
    }
    public func lastEventID(session: String) async throws -> Int64 { try await base.lastEventID(session: session) }
    public func messageCount() async throws -> Int { try base.messageCount() }
    public func prune(before cutoff: Date, after: Int64, limit: Int) async throws -> StorePruning {
        try await base.prune(before: cutoff, after: after, limit: limit)
    }
    public func cursor(network: String) async throws -> String? { try await base.cursor(network: network) }
    public func deliveryPositions(network: String) async throws -> [String: Int64] { try await base.deliveryPositions(network: network) }
    public func hasMark(network: String, mark: String) async throws -> Bool { try await base.hasMark(network: network, mark: mark) }
}
