import Foundation

/// The gateway's lifecycle as `/v1/status` reports it.
public enum LifecycleState: String, Sendable, Codable {
    case starting, ready, draining, stopping
}

/// How the agent back-end is doing.
public enum AgentHealth: String, Sendable, Codable {
    case starting, ready, degraded, offline
}

/// The body of `GET /v1/status` and the control socket's status answer.
public struct GatewayStatus: Sendable, Codable, Equatable {
    public struct Drain: Sendable, Codable, Equatable {
        public var reason: DrainReason
        /// When in-flight turns are interrupted (ISO 8601).
        public var deadline: Date
        public var inFlight: Int
        /// Seconds until the deadline, 0 once it passed.
        public var secondsLeft: Double

        enum CodingKeys: String, CodingKey {
            case reason, deadline
            case inFlight = "in_flight"
            case secondsLeft = "seconds_left"
        }
    }

    public struct AgentStatus: Sendable, Codable, Equatable {
        public var kind: String
        public var health: AgentHealth
    }

    public var instance: String
    public var pid: Int32
    public var version: String
    public var state: LifecycleState
    public var startedAt: Date
    public var inFlight: Int
    public var queued: Int
    /// Sessions with a message waiting or running in this process; idle sessions are not
    /// kept in memory, so neither are they counted.
    public var sessions: Int
    public var drain: Drain?
    public var agent: AgentStatus
    /// `systemd` when a supervisor will start the next process after a restart.
    public var supervisor: String?
    /// Chat network adapters by name (`matrix`); nil when none is configured.
    public var networks: [String: ChatNetworkStatus]?
    /// Whether the shared store answers (nil with SQLite): readiness needs it.
    public var storeReachable: Bool?
    /// The processes sharing the store (nil with SQLite).
    public var cluster: ClusterStatus?

    /// Whether a load balancer should send this process traffic.
    public var isReady: Bool { state == .ready && storeReachable != false }

    enum CodingKeys: String, CodingKey {
        case instance, pid, version, state
        case startedAt = "started_at"
        case inFlight = "in_flight"
        case queued, sessions, drain, agent, supervisor, networks, cluster
        case storeReachable = "store_reachable"
    }

    /// `; matrix connected` and the like, for the one-line summary.
    private var networkSummary: String {
        (networks ?? [:]).sorted { $0.key < $1.key }.map { name, status in
            "; \(name) \(status.state.rawValue.replacingOccurrences(of: "_", with: " "))"
        }.joined()
    }

    /// The one-line summary systemd shows as the unit's status.
    public var summary: String {
        switch state {
        case .starting:
            return "Starting: \(queued) queued"
        case .ready:
            return "Ready: \(sessions) sessions, \(inFlight) in flight, \(queued) queued; agent \(agent.health.rawValue)\(networkSummary)"
        case .draining:
            let reason = drain?.reason.rawValue ?? "stop"
            let left = Int((drain?.secondsLeft ?? 0).rounded(.up))
            return "Draining for \(reason): \(inFlight) turns in flight, \(left) s left, \(queued) queued"
        case .stopping:
            if drain?.reason == .restart {
                return "Stopping for restart: \(queued) queued for the next process"
            }
            return "Stopping: \(queued) queued for the next start"
        }
    }
}

/// `GET /v1/sessions/{session}`.
public struct SessionStatus: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable { case idle, busy }

    public var session: String
    public var state: State
    public var queued: Int
    public var lastEventID: Int64

    enum CodingKeys: String, CodingKey {
        case session, state, queued
        case lastEventID = "last_event_id"
    }
}

/// Coders with the wire format every Baton JSON body uses.
public enum WireFormat {
    /// One encoder for every body: it is safe to share, and making one per body cost
    /// more than encoding the small ones that every message gets.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
