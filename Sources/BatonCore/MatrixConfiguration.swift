/// The `matrix:` section: Baton as a bot on a Matrix homeserver.
///
/// Present only when the configuration names a Matrix key; without it Baton speaks only
/// its HTTP API.
public struct MatrixConfiguration: Sendable, Equatable {
    /// Whose room invites the bot accepts.
    public enum AutoJoin: String, Sendable, CaseIterable {
        /// Invites from users in `admins`.
        case admins
        /// Invites from anyone.
        case anyone
        /// No invites; only `rooms` are joined.
        case none
    }

    /// The homeserver's client-server API base URL (`https://matrix.example.org`).
    public var homeserver: String
    /// The bot's own user id (`@baton:example.org`).
    public var userID: String
    /// The bot's access token; never logged.
    public var accessToken: String
    /// The device the token belongs to, if known; only logged and shown in status.
    public var deviceID: String
    public var autoJoin: AutoJoin
    /// Room ids (`!…`) or aliases (`#…`) joined at every start.
    public var rooms: [String]

    public init(
        homeserver: String = "", userID: String = "", accessToken: String = "", deviceID: String = "",
        autoJoin: AutoJoin = .admins, rooms: [String] = []
    ) {
        self.homeserver = homeserver
        self.userID = userID
        self.accessToken = accessToken
        self.deviceID = deviceID
        self.autoJoin = autoJoin
        self.rooms = rooms
    }

    /// The name of the systemd credential holding the access token (`LoadCredential=`).
    public static let accessTokenCredential = "matrix-access-token"
}
