import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// JSON over HTTP to a homeserver, for tests.
public final class MatrixTestHTTP: Sendable {
    let baseURL: String
    let accessToken: String?
    private let client: HTTPClient

    init(baseURL: String, accessToken: String? = nil) {
        self.baseURL = baseURL
        self.accessToken = accessToken
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
    }

    func close() {
        try? client.syncShutdown()
    }

    /// Sends a request and decodes the JSON answer; fails unless the status is `expect`.
    @discardableResult
    func request(_ method: String, _ path: String, body: [String: Any]? = nil, expect: Int = 200) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .init(rawValue: method)
        if let accessToken { request.headers.add(name: "Authorization", value: "Bearer \(accessToken)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 32 * 1024 * 1024)
        let text = String(buffer: bytes)
        guard Int(response.status.code) == expect else {
            throw BatonHTTPClient.UnexpectedResponse(description: "\(method) \(path): HTTP \(response.status.code) \(text)")
        }
        return (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: Any] ?? [:]
    }
}

/// A person on the test homeserver, driven over the client-server API.
public final class MatrixTestUser: Sendable {
    public let userID: String
    public let accessToken: String
    public let deviceID: String
    let http: MatrixTestHTTP

    /// A message in a room as a test checks it.
    public struct RoomMessage: Sendable, Equatable {
        public var eventID: String
        public var sender: String
        public var msgtype: String
        public var body: String
        /// The event this one replies to.
        public var inReplyTo: String?
        /// The root of the thread it is in; nil in the main timeline.
        public var threadRoot: String? = nil
    }

    init(userID: String, accessToken: String, deviceID: String, baseURL: String) {
        self.userID = userID
        self.accessToken = accessToken
        self.deviceID = deviceID
        http = MatrixTestHTTP(baseURL: baseURL, accessToken: accessToken)
    }

    static func login(_ name: String, password: String, server: Synapse) async throws -> MatrixTestUser {
        let anonymous = MatrixTestHTTP(baseURL: server.baseURL)
        defer { anonymous.close() }
        let answer = try await anonymous.request(
            "POST", "/_matrix/client/v3/login",
            body: ["type": "m.login.password", "identifier": ["type": "m.id.user", "user": name], "password": password])
        guard let token = answer["access_token"] as? String, let user = answer["user_id"] as? String else {
            throw BatonHTTPClient.UnexpectedResponse(description: "login of \(name) answered \(answer)")
        }
        return MatrixTestUser(userID: user, accessToken: token, deviceID: answer["device_id"] as? String ?? "", baseURL: server.baseURL)
    }

    /// Creates a private room inviting `invitees`; returns its id.
    public func createRoom(inviting invitees: [String] = [], encrypted: Bool = false) async throws -> String {
        var body: [String: Any] = ["preset": "private_chat", "invite": invitees]
        if encrypted {
            body["initial_state"] = [["type": "m.room.encryption", "state_key": "", "content": ["algorithm": "m.megolm.v1.aes-sha2"]]]
        }
        let answer = try await http.request("POST", "/_matrix/client/v3/createRoom", body: body)
        guard let room = answer["room_id"] as? String else { throw BatonHTTPClient.UnexpectedResponse(description: "createRoom: \(answer)") }
        return room
    }

    public func invite(_ user: String, to room: String) async throws {
        try await http.request("POST", "/_matrix/client/v3/rooms/\(Self.encode(room))/invite", body: ["user_id": user])
    }

    public func join(_ room: String) async throws {
        try await http.request("POST", "/_matrix/client/v3/join/\(Self.encode(room))", body: [:])
    }

    /// Changes the user's display name: a member event ("join" to "join") in every room the
    /// user is in.
    public func setDisplayName(_ name: String) async throws {
        try await http.request("PUT", "/_matrix/client/v3/profile/\(Self.encode(userID))/displayname", body: ["displayname": name])
    }

    /// Sets the user's own account data of `type` to `content`.
    public func setAccountData(_ type: String, _ content: [String: Any]) async throws {
        try await http.request("PUT", "/_matrix/client/v3/user/\(Self.encode(userID))/account_data/\(Self.encode(type))", body: content)
    }

    /// Suspends `user`'s account, or lifts the suspension, as a server admin (Synapse's
    /// admin API): a suspended account still syncs, but every message it sends is refused
    /// with `403 M_USER_SUSPENDED`.
    public func setSuspended(_ suspended: Bool, _ user: String) async throws {
        try await http.request("PUT", "/_synapse/admin/v1/suspend/\(Self.encode(user))", body: ["suspend": suspended])
    }

    /// Sends a text message, in the thread of `threadRoot` when given (as Element does:
    /// falling back to a reply to the root for clients without threads); returns its event id.
    @discardableResult
    public func send(_ text: String, to room: String, inThreadOf threadRoot: String? = nil) async throws -> String {
        let transaction = UUID().uuidString
        var body: [String: Any] = ["msgtype": "m.text", "body": text]
        if let threadRoot {
            body["m.relates_to"] = [
                "rel_type": "m.thread", "event_id": threadRoot, "is_falling_back": true, "m.in_reply_to": ["event_id": threadRoot],
            ]
        }
        let answer = try await http.request(
            "PUT", "/_matrix/client/v3/rooms/\(Self.encode(room))/send/m.room.message/\(transaction)", body: body)
        guard let id = answer["event_id"] as? String else { throw BatonHTTPClient.UnexpectedResponse(description: "send: \(answer)") }
        return id
    }

    /// Who is typing in the room now, as a fresh sync tells it. Each sync's filter names
    /// an event type of its own: Synapse answers a sync the same as one it answered
    /// lately (for two minutes) from a cache.
    public func typingUsers(in room: String) async throws -> [String] {
        let filter = #"{"room":{"timeline":{"limit":0},"state":{"types":[]},"ephemeral":{"types":["m.typing"],"not_types":["test.\#(UUID().uuidString)"]}},"presence":{"types":[]}}"#
        let sync = try await http.request("GET", "/_matrix/client/v3/sync?timeout=0&filter=\(Self.encode(filter))")
        let joined = ((sync["rooms"] as? [String: Any])?["join"] as? [String: Any])?[room] as? [String: Any]
        let events = (joined?["ephemeral"] as? [String: Any])?["events"] as? [[String: Any]] ?? []
        let typing = events.first { $0["type"] as? String == "m.typing" }?["content"] as? [String: Any]
        return typing?["user_ids"] as? [String] ?? []
    }

    /// Every message in the room, oldest first.
    public func messages(in room: String) async throws -> [RoomMessage] {
        var found: [RoomMessage] = []
        var from: String?
        repeat {
            var path = "/_matrix/client/v3/rooms/\(Self.encode(room))/messages?dir=f&limit=500"
            if let from { path += "&from=\(Self.encode(from))" }
            let page = try await http.request("GET", path)
            let chunk = page["chunk"] as? [[String: Any]] ?? []
            for event in chunk where event["type"] as? String == "m.room.message" {
                let content = event["content"] as? [String: Any] ?? [:]
                let relatesTo = content["m.relates_to"] as? [String: Any]
                let relation = relatesTo?["m.in_reply_to"] as? [String: Any]
                found.append(
                    RoomMessage(
                        eventID: event["event_id"] as? String ?? "", sender: event["sender"] as? String ?? "",
                        msgtype: content["msgtype"] as? String ?? "", body: content["body"] as? String ?? "",
                        inReplyTo: relation?["event_id"] as? String,
                        threadRoot: relatesTo?["rel_type"] as? String == "m.thread" ? relatesTo?["event_id"] as? String : nil))
            }
            from = chunk.isEmpty ? nil : page["end"] as? String
        } while from != nil
        return found
    }

    /// Waits until the room's messages satisfy `condition`, re-reading them.
    @discardableResult
    public func waitForMessages(
        in room: String, _ what: String, timeout: Duration = .seconds(60), until condition: @escaping @Sendable ([RoomMessage]) -> Bool
    ) async throws -> [RoomMessage] {
        do {
            return try await eventually(what, timeout: timeout, interval: .milliseconds(200)) {
                let messages = try await self.messages(in: room)
                return condition(messages) ? messages : nil
            }
        } catch {
            let seen = (try? await messages(in: room)) ?? []
            throw TimeoutError("\(error)\nroom \(room) holds:\n" + seen.map { "  \($0.sender) [\($0.msgtype)] \($0.body)" }.joined(separator: "\n"))
        }
    }

    /// Waits until every one of `messages` in `room` has a reply (`m.text`) from `bot`.
    @discardableResult
    public func waitForReplies(
        from bot: String, to messages: [String], in room: String, timeout: Duration = .seconds(90)
    ) async throws -> [RoomMessage] {
        try await waitForMessages(in: room, "replies to \(messages.count) messages", timeout: timeout) { seen in
            let answered = Set(seen.filter { $0.sender == bot && $0.msgtype == "m.text" }.compactMap(\.inReplyTo))
            return messages.allSatisfy(answered.contains)
        }
    }

    /// How many replies (`m.text`) from `bot` each message of `room` has.
    public func replyCounts(from bot: String, in room: String) async throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for reply in try await messages(in: room) where reply.sender == bot && reply.msgtype == "m.text" {
            counts[reply.inReplyTo ?? "(none)", default: 0] += 1
        }
        return counts
    }

    public func close() {
        http.close()
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? text
    }
}
