import NIOCore

extension SocketAddress {
    /// Whether the peer is this machine's loopback: `127.0.0.0/8`, `::1`, or a `127.x`
    /// address mapped into IPv6. Read from the address's bytes, not its text: the check
    /// runs for every request to an API without tokens. A Unix socket peer is not an IP
    /// peer, and not counted as one.
    var isLoopback: Bool {
        switch self {
        case .v4(let address):
            return UInt32(bigEndian: address.address.sin_addr.s_addr) >> 24 == 127
        case .v6(let address):
            return withUnsafeBytes(of: address.address.sin6_addr) { bytes in
                let zeros = { (range: Range<Int>) in bytes[range].allSatisfy { $0 == 0 } }
                let isLoopback = zeros(0..<15) && bytes[15] == 1
                let isMappedLoopback = zeros(0..<10) && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
                return isLoopback || isMappedLoopback
            }
        case .unixDomainSocket:
            return false
        }
    }
}
