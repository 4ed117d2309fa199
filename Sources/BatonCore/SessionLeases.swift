/// Who runs which session when several processes share one store.
///
/// A process runs a session's turns only while it holds the session's lease; it renews
/// what it holds well before the leases run out, and lets go of a session once it has
/// nothing to run there (or starts draining), so a peer may take it. A lease left by a
/// dead process runs out and is taken over by a peer, which runs its interrupted turn
/// again. ``SingleProcessLeases`` is the policy of a store only one process uses.
public protocol SessionLeases: Sendable {
    /// Whether other processes share the store; when false every session is this
    /// process's, and the gateway never asks.
    var isShared: Bool { get }

    /// Takes the session's lease if it is free, run out, or already this process's.
    func acquire(_ session: String) async throws -> LeaseGrant?

    /// Extends every lease this process holds (only those of `sessions`, when given) and
    /// says it is alive; returns the sessions it still holds (one missing is a peer's now,
    /// or was let go).
    func renew(state: String, only sessions: Set<String>?) async throws -> Set<String>

    /// Lets go of the session's lease taken under `generation`, and tells the peers.
    func release(_ session: String, generation: Int64) async throws

    /// Sessions with messages waiting that no live process holds.
    func unclaimed(limit: Int) async throws -> [String]

    /// The processes alive, with what they hold, for `/v1/status`.
    func cluster() async throws -> ClusterStatus?
}

/// A lease just taken.
public struct LeaseGrant: Sendable, Equatable {
    /// Grows with every acquisition: a late release of an older one does nothing.
    public var generation: Int64
    /// The process that held it before, when it was another one whose lease ran out.
    public var takenFrom: String?

    public init(generation: Int64, takenFrom: String?) {
        self.generation = generation
        self.takenFrom = takenFrom
    }
}

/// The policy of a store one process owns: every session is its own, always.
public struct SingleProcessLeases: SessionLeases {
    public init() {}
    public var isShared: Bool { false }
    public func acquire(_ session: String) async throws -> LeaseGrant? { LeaseGrant(generation: 1, takenFrom: nil) }
    public func renew(state: String, only sessions: Set<String>?) async throws -> Set<String> { [] }
    public func release(_ session: String, generation: Int64) async throws {}
    public func unclaimed(limit: Int) async throws -> [String] { [] }
    public func cluster() async throws -> ClusterStatus? { nil }
}

/// The processes sharing a store, as `/v1/status` shows them.
public struct ClusterStatus: Sendable, Codable, Equatable {
    public struct Process: Sendable, Codable, Equatable {
        public var instance: String
        public var host: String
        public var pid: Int
        public var listen: String
        public var state: String
        /// Sessions whose leases it holds.
        public var sessions: Int

        public init(instance: String, host: String, pid: Int, listen: String, state: String, sessions: Int) {
            self.instance = instance
            self.host = host
            self.pid = pid
            self.listen = listen
            self.state = state
            self.sessions = sessions
        }
    }

    /// Processes seen within their lease, oldest first.
    public var processes: [Process]
    /// Messages stored and not yet answered, across the cluster.
    public var queued: Int

    public init(processes: [Process], queued: Int) {
        self.processes = processes
        self.queued = queued
    }
}

extension SessionLeases {
    /// Extends every lease this process holds; see ``renew(state:only:)``.
    public func renew(state: String) async throws -> Set<String> {
        try await renew(state: state, only: nil)
    }
}
