import Synchronization

/// How a chat network adapter is doing, as `/v1/status` shows it under `networks`.
public struct ChatNetworkStatus: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        /// Checking the account before the first sync.
        case starting
        /// Syncing and delivering.
        case connected
        /// The last request failed; retrying after a pause. `reason` says why.
        case backingOff = "backing_off"
        /// The homeserver refused the credentials: fix them and restart Baton.
        case unauthorized
        /// Another Baton, with a store of its own, answers the account; this one waits to
        /// take it over. `reason` names it.
        case standby
        /// Shut down with the process.
        case stopped
    }

    public var state: State
    /// Why the adapter is backing off, unauthorized or standing by.
    public var reason: String?
    /// The account Baton speaks as.
    public var user: String
    /// Rooms joined.
    public var rooms: [String]
    /// Stored replies and notices not yet delivered to their rooms.
    public var backlog: Int

    public init(state: State, reason: String? = nil, user: String, rooms: [String] = [], backlog: Int = 0) {
        self.state = state
        self.reason = reason
        self.user = user
        self.rooms = rooms
        self.backlog = backlog
    }
}

/// Where chat network adapters post their status for the gateway to report.
public final class ChatNetworkBoard: Sendable {
    private let statuses = Mutex<[String: ChatNetworkStatus]>([:])

    public init() {}

    /// Changes the status of `network` and returns whether it changed.
    @discardableResult
    public func update(_ network: String, _ change: (inout ChatNetworkStatus) -> Void) -> Bool {
        statuses.withLock { statuses in
            guard var status = statuses[network] else { return false }
            let before = status
            change(&status)
            statuses[network] = status
            return status != before
        }
    }

    /// Registers `network` with its first status.
    public func register(_ network: String, _ status: ChatNetworkStatus) {
        statuses.withLock { $0[network] = status }
    }

    /// Every network's status, by name.
    public var snapshot: [String: ChatNetworkStatus] { statuses.withLock { $0 } }
}
