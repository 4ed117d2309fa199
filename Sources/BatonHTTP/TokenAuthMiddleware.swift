import BatonCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Finds out who is calling the API and puts the ``Caller`` in the request's context.
///
/// With `api_tokens`, every call needs `Authorization: Bearer <token>` with one of them,
/// and the caller is that token's holder. Without, nobody is proven, so the API serves
/// only this machine: a request from another machine, or one that came through a reverse
/// proxy (it carries `Forwarded`, `X-Forwarded-For` or `X-Real-IP`), gets 403 unless
/// `allow_unauthenticated` is set, and so does one a browser sent for another site's page
/// (``ForeignPageCheck``). Those headers are only ever a reason to refuse, never
/// to trust: a client can add them but cannot remove what a proxy adds.
///
/// `/healthz` and `/readyz` stay open for load balancers and probes: they say nothing
/// but whether the process serves; so do the web page's static files, which ask for a
/// token for their API calls. Tokens are compared in constant time.
struct TokenAuthMiddleware<Context: CallerRequestContext>: RouterMiddleware {
    let tokens: [(secret: [UInt8], caller: Caller)]
    let allowUnauthenticated: Bool
    let metrics: AccessMetrics?

    init(tokens: [APIToken], allowUnauthenticated: Bool = false, metrics: AccessMetrics? = nil) {
        self.tokens = zip(tokens, tokens.names).map { token, name in (Array(token.secret.utf8), Caller.token(token, name: name)) }
        self.allowUnauthenticated = allowUnauthenticated
        self.metrics = metrics
    }

    /// The check `configuration` asks for.
    init(configuration: Configuration, metrics: AccessMetrics? = nil) {
        self.init(tokens: configuration.apiTokens, allowUnauthenticated: configuration.allowUnauthenticated, metrics: metrics)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !OpenAccess.paths.contains(request.uri.path) else {
            return try await next(request, context)
        }
        var context = context
        context.caller = try caller(of: request.headers, authority: request.head.authority, peer: context.remoteAddress, logger: context.logger)
        context.logger = logger(context.logger, naming: context.caller)
        return try await next(request, context)
    }

    /// `logger` with the caller's token in its metadata. Without tokens every caller is
    /// the same one: naming it in each request's logs says nothing, and costs every
    /// request a copy of the logger's metadata.
    func logger(_ logger: Logger, naming caller: Caller) -> Logger {
        guard !tokens.isEmpty else { return logger }
        var logger = logger
        logger[metadataKey: "baton.token"] = "\(caller.name)"
        return logger
    }

    /// The caller of a request with `headers` for `authority` (its `Host`) from `peer`,
    /// counted in the metrics; or the answer that refuses it, counted and logged.
    func caller(of headers: HTTPFields, authority: String?, peer: SocketAddress?, logger: Logger) throws(APIError) -> Caller {
        do {
            let caller = try identify(headers, authority: authority, peer: peer)
            metrics?.identified(caller)
            return caller
        } catch {
            metrics?.refused(error.reason)
            let level: Logger.Level =
                switch error.reason {
                case .notLocal: .notice
                // Any page open in a browser can send these without end: one a minute is told.
                case .foreignPage: OpenAccess.mayTellOfForeignPage() ? .notice : .debug
                case .missingToken, .invalidToken: .debug
                }
            logger.log(
                level: level, "Refused an API request",
                metadata: ["baton.reason": "\(error.reason.rawValue)", "baton.peer": "\(peer?.ipAddress ?? "unknown")"])
            throw error.answer
        }
    }

    /// The token of an `Authorization: Bearer <token>` header; the scheme's name in any
    /// case, as RFC 9110 §11.1 has it (`bearer`, `BEARER`). Nil for another scheme.
    static func bearerCredentials(_ header: String) -> [UInt8]? {
        let bytes = Array(header.utf8)
        let scheme = Array("bearer ".utf8)
        guard bytes.count >= scheme.count, zip(bytes, scheme).allSatisfy({ $0 | 0x20 == $1 | 0x20 }) else { return nil }
        return Array(bytes.dropFirst(scheme.count))
    }

    /// The caller of a request with `headers` for `authority` from `peer`, or why it is refused.
    func identify(_ headers: HTTPFields, authority: String? = nil, peer: SocketAddress?) throws(Refusal) -> Caller {
        guard !tokens.isEmpty else { return try localCaller(headers, authority: authority, peer: peer) }
        guard let header = headers[.authorization], let presented = Self.bearerCredentials(header) else {
            throw Refusal(.missingToken, APIError(.unauthorized, "missing bearer token: send Authorization: Bearer <token>", headers: [.wwwAuthenticate: "Bearer"]))
        }
        // Check every token without stopping early, so timing says nothing about which
        // token (or how much of one) matched.
        var matched: Caller?
        for token in tokens {
            let equal = Self.constantTimeEqual(token.secret, presented)
            matched = equal ? token.caller : matched
        }
        guard let matched else {
            throw Refusal(.invalidToken, APIError(.unauthorized, "invalid bearer token", headers: [.wwwAuthenticate: "Bearer"]))
        }
        return matched
    }

    /// Without tokens: this machine's caller, or another machine's (or another site's
    /// page's, ``ForeignPageCheck``) if that is allowed.
    private func localCaller(_ headers: HTTPFields, authority: String?, peer: SocketAddress?) throws(Refusal) -> Caller {
        let proxyHeader = OpenAccess.proxyHeaders.first { headers[$0] != nil }
        let loopbackPeer = peer?.isLoopback ?? false
        let foreignPage = proxyHeader == nil && loopbackPeer ? ForeignPageCheck.reason(headers, authority: authority) : nil
        let fromThisMachine = proxyHeader == nil && loopbackPeer && foreignPage == nil
        if let foreignPage, !allowUnauthenticated {
            throw Refusal(
                .foreignPage,
                APIError(
                    .forbidden,
                    "this API has no api_tokens, so it serves only this machine's own clients and Baton's page, and this request \(foreignPage); "
                        + "set api_tokens to serve other pages"))
        }
        guard fromThisMachine || allowUnauthenticated else {
            let origin = proxyHeader.map { "through a proxy (it carries \($0))" } ?? "from \(peer?.ipAddress ?? "an unknown address")"
            throw Refusal(
                .notLocal,
                APIError(
                    .forbidden,
                    "this API has no api_tokens, so it serves only this machine, and this request came \(origin); "
                        + "set api_tokens, or allow_unauthenticated: true to serve without tokens deliberately"))
        }
        return .unauthenticated(fromThisMachine: fromThisMachine)
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

    /// A request turned away before its handler: why (for metrics) and its answer.
    struct Refusal: Error {
        let reason: AccessMetrics.Refusal
        let answer: APIError

        init(_ reason: AccessMetrics.Refusal, _ answer: APIError) {
            self.reason = reason
            self.answer = answer
        }
    }
}

/// The constants of ``TokenAuthMiddleware``, built once (a generic type has no stored statics).
private enum OpenAccess {
    /// Paths served without a token.
    static let paths: Set<String> = PageController.paths.union(["/healthz", "/readyz"])
    /// Headers a reverse proxy adds: their presence means the peer is not the client.
    static let proxyHeaders: [HTTPField.Name] = [.init("Forwarded")!, .init("X-Forwarded-For")!, .init("X-Real-IP")!]

    private static let lastForeignPageNotice = Mutex<ContinuousClock.Instant?>(nil)

    /// Whether a refusal of another site's page may be logged at notice now: one a minute.
    static func mayTellOfForeignPage() -> Bool {
        lastForeignPageNotice.withLock { last in
            let now = ContinuousClock.now
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
    }
}
