import Hummingbird

/// Requires `Authorization: Bearer <token>` with one of `api_tokens` on the API.
///
/// `/healthz` and `/readyz` stay open for load balancers and probes: they say nothing
/// but whether the process serves; so do the web page's static files, which ask for a
/// token for their API calls. Tokens are compared in constant time.
struct TokenAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let tokens: [[UInt8]]
    static var openPaths: Set<String> { PageController.paths.union(["/healthz", "/readyz"]) }

    init(tokens: [String]) {
        self.tokens = tokens.map { Array($0.utf8) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !tokens.isEmpty, !Self.openPaths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(.unauthorized, "missing bearer token: send Authorization: Bearer <token>", headers: [.wwwAuthenticate: "Bearer"])
        }
        let presented = Array(header.utf8.dropFirst("Bearer ".utf8.count))
        // Check every token without stopping early, so timing says nothing about which
        // token (or how much of one) matched.
        var matched = false
        for token in tokens {
            matched = Self.constantTimeEqual(token, presented) || matched
        }
        guard matched else {
            throw APIError(.unauthorized, "invalid bearer token", headers: [.wwwAuthenticate: "Bearer"])
        }
        return try await next(request, context)
    }

    /// Equal bytes, in time that depends only on the lengths.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
