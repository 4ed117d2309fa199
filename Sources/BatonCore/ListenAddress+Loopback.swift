import Foundation

extension ListenAddress {
    /// Whether only this machine can reach the address: a loopback address
    /// (`127.0.0.0/8`, `::1`), `localhost`, or a name every address of which is loopback.
    public var isLoopback: Bool {
        if Self.isLoopback(ipAddress: host) { return true }
        if host.lowercased() == "localhost" { return true }
        guard !Self.isIPAddress(host) else { return false }
        let addresses = Self.resolve(host)
        return !addresses.isEmpty && addresses.allSatisfy(Self.isLoopback(ipAddress:))
    }

    /// The error of a `listen` whose host name is known to name no address (the resolver
    /// said so, not merely failed for now: at boot the network may not be up yet, which
    /// is no configuration error); nil otherwise.
    public var unresolvedProblem: ConfigurationError? {
        guard !Self.isIPAddress(host) else { return nil }
        // EAI_NODATA (-5), a GNU extension Swift's Glibc module leaves out.
        let noAddress: Int32 = -5
        let code = Self.lookUp(host).code
        guard code == EAI_NONAME || code == noAddress else { return nil }
        return ConfigurationError(
            source: "configuration", key: "listen", problem: "names the host \(host), which resolves to no address; give an IP address or a name this machine can resolve")
    }

    /// Whether `text` is a loopback IP address, IPv4 in IPv6 (`::ffff:127.0.0.1`) included.
    public static func isLoopback(ipAddress text: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return LoopbackRange.contains(v4) }
        var v6 = in6_addr()
        return inet_pton(AF_INET6, text, &v6) == 1 && LoopbackRange.contains(v6)
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// The numeric addresses a name resolves to for listening; empty when it does not.
    private static func resolve(_ name: String) -> [String] {
        lookUp(name).addresses
    }

    /// `getaddrinfo` for listening on `name`: its result code, and the numeric addresses.
    private static func lookUp(_ name: String) -> (code: Int32, addresses: [String]) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var results: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(name, nil, &hints, &results)
        guard code == 0, let first = results else { return (code, []) }
        defer { freeaddrinfo(results) }
        let addresses = sequence(first: first, next: { $0.pointee.ai_next }).compactMap { info in
            info.pointee.ai_addr.flatMap { ListenAddress(socketAddress: $0, length: info.pointee.ai_addrlen)?.host }
        }
        return (code, addresses)
    }

    /// The numeric host and port of an IPv4 or IPv6 socket address; nil for any other.
    public init?(socketAddress: UnsafePointer<sockaddr>, length: socklen_t) {
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let flags = NI_NUMERICHOST | NI_NUMERICSERV
        guard [AF_INET, AF_INET6].contains(Int32(socketAddress.pointee.sa_family)),
            getnameinfo(socketAddress, length, &host, socklen_t(host.count), &service, socklen_t(service.count), flags) == 0,
            let port = Int(service.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        else { return nil }
        self.init(host: host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, port: port)
    }
}

extension ListenAddress {
    /// How a socket bound to `bound` differs from the `configured` address, in words; nil
    /// when it may well be that address (a name is not resolved: `localhost` for
    /// `127.0.0.1` is no difference).
    public static func mismatch(configured: ListenAddress, bound: ListenAddress) -> String? {
        if configured.port != 0, configured.port != bound.port { return "port \(bound.port), not \(configured.port)" }
        if isIPAddress(configured.host), !sameIPAddress(configured.host, bound.host) { return "host \(bound.host), not \(configured.host)" }
        return nil
    }

    /// Whether two IP address texts name one address (`::1` and `0:0::1`, say).
    private static func sameIPAddress(_ a: String, _ b: String) -> Bool {
        var a4 = in_addr(), b4 = in_addr()
        if inet_pton(AF_INET, a, &a4) == 1, inet_pton(AF_INET, b, &b4) == 1 { return a4.s_addr == b4.s_addr }
        var a6 = in6_addr(), b6 = in6_addr()
        guard inet_pton(AF_INET6, a, &a6) == 1, inet_pton(AF_INET6, b, &b6) == 1 else { return a == b }
        return withUnsafeBytes(of: &a6) { x in withUnsafeBytes(of: &b6) { y in x.elementsEqual(y) } }
    }
}
