import Foundation

/// The `202` body of `POST /v1/messages` for a stored message.
public struct MessageAcknowledgement: Decodable, Sendable, Equatable {
    public var id: String
    public var session: String
    /// `accepted` or `queued`.
    public var status: String
    public var position: Int
}

/// The parts of `GET /v1/status` the tests look at.
public struct GatewayStatusBody: Decodable, Sendable, Equatable {
    public var instance: String
    public var pid: Int32
    /// `starting`, `ready`, `draining` or `stopping`.
    public var state: String
    public var inFlight: Int
    public var queued: Int
    public var supervisor: String?
    public var networks: [String: NetworkStatusBody]?
}

/// A chat network adapter in `GET /v1/status`.
public struct NetworkStatusBody: Decodable, Sendable, Equatable {
    /// `starting`, `connected`, `backing_off`, `unauthorized` or `stopped`.
    public var state: String
    public var reason: String?
    public var rooms: [String]
    public var backlog: Int
}

/// The JSON of a `reply`, `notice` or `goodbye` event; fields a kind lacks are nil.
public struct EventPayload: Decodable, Sendable, Equatable {
    /// reply: the reply's id.
    public var id: String?
    /// reply: the message it answers.
    public var inReplyTo: String?
    public var text: String?
    /// notice: `queued`, `draining`, `interrupted`, `restarted`, `status`, `error`…
    public var kind: String?
    /// notice: the message it is about.
    public var message: String?
    /// notice and goodbye: the process that sent it.
    public var instance: String?
    /// goodbye: `restart` or `stop`.
    public var reason: String?
    public var position: Int?
}

/// Baton's JSON: snake_case keys.
enum WireJSON {
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
