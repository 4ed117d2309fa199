import AsyncHTTPClient
import BatonCore
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The few client-server API calls Baton makes, over AsyncHTTPClient.
///
/// Every call carries the bot's access token; none is retried here (the callers decide
/// what a failure means).
struct MatrixClient: Sendable {
    let http: HTTPClient
    /// The homeserver's base URL without a trailing slash.
    let homeserver: String
    let accessToken: String
    let userID: String

    /// Largest answer read; a sync after a long outage can be large.
    static let maxResponseBytes = 64 * 1024 * 1024

    init(http: HTTPClient, configuration: MatrixConfiguration) {
        self.http = http
        var homeserver = configuration.homeserver
        while homeserver.hasSuffix("/") { homeserver.removeLast() }
        self.homeserver = homeserver
        self.accessToken = configuration.accessToken
        self.userID = configuration.userID
    }

    // MARK: Calls

    struct WhoAmI: Decodable {
        var userID: String
        enum CodingKeys: String, CodingKey { case userID = "user_id" }
    }

    /// Whose token this is: the first call, which tells a bad token from a good one.
    func whoAmI() async throws(MatrixError) -> WhoAmI {
        try await call(.GET, "account/whoami", timeout: .seconds(30))
    }

    /// One `/sync`; long-polls for `timeout` when there is nothing new.
    func sync(since: String?, filter: String, timeout: Duration) async throws(MatrixError) -> MatrixSyncResponse {
        var query = [("filter", filter), ("timeout", "\(timeout.components.seconds * 1000)")]
        if let since { query.append(("since", since)) }
        return try await call(.GET, "sync", query: query, timeout: timeout + .seconds(30))
    }

    struct JoinedRooms: Decodable {
        var joinedRooms: [String]
        enum CodingKeys: String, CodingKey { case joinedRooms = "joined_rooms" }
    }

    func joinedRooms() async throws(MatrixError) -> [String] {
        let answer: JoinedRooms = try await call(.GET, "joined_rooms", timeout: .seconds(30))
        return answer.joinedRooms
    }

    struct RoomID: Decodable {
        var roomID: String
        enum CodingKeys: String, CodingKey { case roomID = "room_id" }
    }

    /// Joins a room by id or alias (also accepts an invite); returns the room id.
    func join(_ room: String) async throws(MatrixError) -> String {
        let answer: RoomID = try await call(.POST, "join/\(Self.segment(room))", body: EmptyObject(), timeout: .seconds(30))
        return answer.roomID
    }

    /// Leaves a room (also declines an invite).
    func leave(_ room: String) async throws(MatrixError) {
        let _: EmptyObject = try await call(.POST, "rooms/\(Self.segment(room))/leave", body: EmptyObject(), timeout: .seconds(30))
    }

    struct EventID: Decodable {
        var eventID: String
        enum CodingKeys: String, CodingKey { case eventID = "event_id" }
    }

    /// Sends a message; the same `transactionID` from the same device is one event.
    func send(_ content: MatrixMessageContent, to room: String, transactionID: String) async throws(MatrixError) -> String {
        let path = "rooms/\(Self.segment(room))/send/m.room.message/\(Self.segment(transactionID))"
        let answer: EventID = try await call(.PUT, path, body: content, timeout: .seconds(30))
        return answer.eventID
    }

    struct Typing: Encodable {
        var typing: Bool
        var timeout: Int?
    }

    /// Shows or hides the bot typing in `room` (for `timeout` at most).
    func setTyping(_ typing: Bool, in room: String, timeout: Duration) async throws(MatrixError) {
        let path = "rooms/\(Self.segment(room))/typing/\(Self.segment(userID))"
        let body = Typing(typing: typing, timeout: typing ? Int(timeout.components.seconds * 1000) : nil)
        let _: EmptyObject = try await call(.PUT, path, body: body, timeout: .seconds(15))
    }

    /// The bot's account data of `type`; nil when it has none.
    func accountData<Content: Decodable>(_: Content.Type, type: String) async throws(MatrixError) -> Content? {
        do {
            return try await call(.GET, "user/\(Self.segment(userID))/account_data/\(Self.segment(type))", timeout: .seconds(30))
        } catch where error.errcode == "M_NOT_FOUND" {
            return nil
        }
    }

    /// Sets the bot's account data of `type`.
    func setAccountData(_ content: some Encodable, type: String, timeout: Duration = .seconds(30)) async throws(MatrixError) {
        let _: EmptyObject = try await call(.PUT, "user/\(Self.segment(userID))/account_data/\(Self.segment(type))", body: content, timeout: timeout)
    }

    /// One event of a room, as the bot may see it.
    func event(_ id: String, in room: String) async throws(MatrixError) -> MatrixRoomEvent {
        try await call(.GET, "rooms/\(Self.segment(room))/event/\(Self.segment(id))", timeout: .seconds(30))
    }

    struct MessagesPage: Decodable {
        var chunk: [MatrixRoomEvent]
        var end: String?
    }

    /// A page of a room's timeline, newest first, from `from` back towards `to`.
    func messages(in room: String, from: String, to: String?, filter: String, limit: Int) async throws(MatrixError) -> MessagesPage {
        var query = [("from", from), ("dir", "b"), ("limit", "\(limit)"), ("filter", filter)]
        if let to { query.append(("to", to)) }
        return try await call(.GET, "rooms/\(Self.segment(room))/messages", query: query, timeout: .seconds(30))
    }

    // MARK: Plumbing

    struct EmptyObject: Codable {}

    private struct ErrorBody: Decodable {
        var errcode: String?
        var error: String?
        var retryAfterMilliseconds: Int64?
        enum CodingKeys: String, CodingKey {
            case errcode, error
            case retryAfterMilliseconds = "retry_after_ms"
        }
    }

    private func call<Answer: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], timeout: Duration
    ) async throws(MatrixError) -> Answer {
        try await call(method, path, query: query, body: nil as EmptyObject?, timeout: timeout)
    }

    private func call<Body: Encodable, Answer: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: Body?, timeout: Duration
    ) async throws(MatrixError) -> Answer {
        var url = "\(homeserver)/_matrix/client/v3/\(path)"
        if !query.isEmpty {
            url += "?" + query.map { "\(Self.segment($0.0))=\(Self.segment($0.1))" }.joined(separator: "&")
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(accessToken)")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            do {
                request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
            } catch {
                throw MatrixError(.malformed, message: "request body could not be encoded: \(error)")
            }
        }
        let status: Int
        let bytes: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000))
            status = Int(response.status.code)
            bytes = try await response.body.collect(upTo: Self.maxResponseBytes)
        } catch {
            throw MatrixError(.transport, message: "\(error)")
        }
        guard (200..<300).contains(status) else {
            let detail = try? JSONDecoder().decode(ErrorBody.self, from: bytes)
            throw MatrixError(
                .http(status: status), errcode: detail?.errcode,
                message: detail?.error ?? String(buffer: bytes).prefix(200).description,
                retryAfter: detail?.retryAfterMilliseconds.map { .milliseconds($0) })
        }
        do {
            return try JSONDecoder().decode(Answer.self, from: bytes)
        } catch {
            throw MatrixError(.malformed, message: "\(method) \(path): \(error)")
        }
    }

    /// Percent-encodes one path segment or query value: room ids hold `!`, `:` and `#`.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
}
