import BatonCore
import Foundation
import HTTPTypes

/// Tells a request a browser sent for another site's page from one this machine's own
/// clients sent, for the API without tokens.
///
/// A loopback peer alone proves nothing there: any web page open in a browser on this
/// machine can make it send a POST to `127.0.0.1` (a form, or `fetch` in `no-cors` mode:
/// no preflight), and a page on a DNS name its owner points at `127.0.0.1` is, to the
/// browser, the same origin as the API, free to read its answers. So a request is taken
/// as this machine's only when it shows none of what browsers add for such pages:
/// `Sec-Fetch-Site: cross-site` or `same-site`; an `Origin` other than the host the
/// request names (`null` included); a `Host` that is a DNS name other than `localhost`
/// and this machine's own name. curl, scripts and bridges send none of these, and Baton's
/// page is same-origin.
enum ForeignPageCheck {
    /// Why the request with `headers` for `authority` (its `Host`) came from a page that
    /// is not Baton's, in words for its client; nil when nothing says so.
    static func reason(_ headers: HTTPFields, authority: String?) -> String? {
        if let site = headers[secFetchSite], site == "cross-site" || site == "same-site" {
            return "it was sent by a web page of another site (Sec-Fetch-Site: \(site))"
        }
        let host = authority
        if let origin = headers[.origin], !origin.isEmpty, !sameOrigin(origin, host: host) {
            return "it was sent by a web page of another site (Origin: \(origin))"
        }
        if let host, let name = hostName(host), !isThisMachine(name) {
            return "it names the host \(name), not this machine's (a web page whose DNS name points at this machine)"
        }
        return nil
    }

    private static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// Whether `origin` (`scheme://host[:port]`) is the origin of a request for `host`.
    static func sameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host, let separator = origin.range(of: "://") else { return false }
        let scheme = origin[..<separator.lowerBound].lowercased()
        let defaultPort = scheme == "https" ? "443" : "80"
        func authority(_ text: Substring) -> String {
            let lowered = text.lowercased()
            // A port is what follows the last colon after any IPv6 literal's bracket.
            let afterBracket = lowered.lastIndex(of: "]") ?? lowered.startIndex
            return lowered[afterBracket...].contains(":") ? lowered : "\(lowered):\(defaultPort)"
        }
        return authority(origin[separator.upperBound...]) == authority(Substring(host))
    }

    /// The name in a `Host` header, without its port; nil for an IP address literal,
    /// which no DNS name can stand behind.
    static func hostName(_ host: String) -> String? {
        // The usual case, `127.0.0.1:8080` or `[::1]:8080`, read without a copy.
        let first = host.utf8.first
        if first == UInt8(ascii: "[") { return nil }
        if first.map({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) == true,
            host.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") })
        {
            return nil
        }
        let name = host.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? host
        guard !name.isEmpty, !name.allSatisfy({ $0 == "." || $0.isASCII && $0.isNumber }) else { return nil }
        return name
    }

    /// Whether `name` is `localhost` (or under it), this machine's own name, or a name
    /// `/etc/hosts` gives a loopback address (`localhost.localdomain`, `ip6-localhost`).
    static func isThisMachine(_ name: String) -> Bool {
        var name = name.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return name == "localhost" || name.hasSuffix(".localhost") || machineNames.contains(name)
    }

    /// This machine's name as the kernel has it, and its first label, and the names
    /// `/etc/hosts` gives a loopback address: this machine's administrator wrote them, no
    /// web page can add one.
    private static let machineNames: Set<String> = {
        var names: Set<String> = []
        var buffer = [UInt8](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count - 1) == 0 {
            let name = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self).lowercased()
            if !name.isEmpty { names.formUnion([name, String(name.prefix { $0 != "." })]) }
        }
        let hosts = (try? String(contentsOfFile: "/etc/hosts", encoding: .utf8)) ?? ""
        for line in hosts.split(whereSeparator: \.isNewline) {
            let fields = line.prefix { $0 != "#" }.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let address = fields.first, ListenAddress.isLoopback(ipAddress: address) else { continue }
            names.formUnion(fields.dropFirst().map { $0.lowercased() })
        }
        return names
    }()
}
