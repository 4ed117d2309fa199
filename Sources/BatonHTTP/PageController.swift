import Foundation
import HTTPTypes
import Hummingbird

/// `GET /` and the page's files: a chat client and a live view of the gateway, in the
/// browser, over the same API everyone else uses.
///
/// Served without a token (the page asks for one when its API calls get `401`), with a
/// Content-Security-Policy that allows this origin alone and no inline script or style,
/// and revalidated on every load so that a new version of Baton serves its own page.
struct PageController {
    /// The page's files by path.
    static let files: [String: PageFile] = Dictionary(uniqueKeysWithValues: PageFile.all.map { ($0.path, $0) })

    /// The paths served here, which need no token.
    static let paths = Set(files.keys)

    /// Headers on every file of the page.
    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
        .xContentTypeOptions: "nosniff",
        .xFrameOptions: "DENY",
        .referrerPolicy: "no-referrer",
        .crossOriginOpenerPolicy: "same-origin",
        .crossOriginResourcePolicy: "same-origin",
        .cacheControl: "no-cache",
    ]

    func register(on router: Router<BatonRequestContext>) {
        for file in PageFile.all {
            router.get(RouterPath(file.path)) { request, _ in Self.response(for: file, request: request) }
        }
    }

    static func response(for file: PageFile, request: Request) -> Response {
        var headers = securityHeaders
        headers[.eTag] = file.etag
        if request.headers[values: .ifNoneMatch].contains(where: { Self.matches($0, file.etag) }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: file.body))
    }

    /// Whether an `If-None-Match` value names `etag` (a list, `*`, or weak tags).
    static func matches(_ value: String, _ etag: String) -> Bool {
        value.split(separator: ",").contains { tag in
            let tag = tag.trimmingCharacters(in: .whitespaces)
            return tag == "*" || tag == etag || tag == "W/\(etag)"
        }
    }
}

extension HTTPField.Name {
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
    static let crossOriginOpenerPolicy = Self("Cross-Origin-Opener-Policy")!
}
