import Foundation

extension BatonHTTPClient {
    /// `POST /v1/messages` with `Authorization: Bearer <token>` when a token is given.
    public func post(session: String, user: String, text: String, token: String?) async throws -> Response {
        let body = try JSONSerialization.data(withJSONObject: ["session": session, "user": user, "text": text], options: [.sortedKeys])
        return try await request("POST", "/v1/messages", body: Array(body), headers: Self.authorization(token))
    }

    /// `GET path` with `Authorization: Bearer <token>` when a token is given.
    public func get(_ path: String, token: String?) async throws -> Response {
        try await request("GET", path, headers: Self.authorization(token))
    }

    /// The `Authorization` header for `token`, if any.
    public static func authorization(_ token: String?) -> [(String, String)] {
        token.map { [("Authorization", "Bearer \($0)")] } ?? []
    }
}
