import Hummingbird

/// One file of the web page at `/`, held in the binary.
///
/// The page's sources are `Sources/BatonHTTP/Page/`; `scripts/embed-page.py` writes them
/// into `PageFile+Embedded.swift` as string literals, so `baton` installed on its own
/// (`/usr/local/bin/baton`, no resource bundle beside it) serves them all the same.
struct PageFile: Sendable {
    /// Where it is served: `/` for `index.html`, `/<name>` for the others.
    let path: String
    let contentType: String
    let body: ByteBuffer
    /// A strong validator of the bytes, quoted, for `ETag` and `If-None-Match`.
    let etag: String

    init(name: String, text: String) {
        self.path = name == "index.html" ? "/" : "/\(name)"
        self.contentType = Self.contentType(of: name)
        self.body = ByteBuffer(string: text)
        self.etag = "\"\(Self.fingerprint(text.utf8))\""
    }

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        default: "application/octet-stream"
        }
    }

    /// 64-bit FNV-1a in hex: enough to tell two versions of a file apart.
    static func fingerprint(_ bytes: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
