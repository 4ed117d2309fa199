import BatonCore
import NIOCore

extension SocketAddress {
    /// Whether the peer is this machine's loopback (``LoopbackRange``). Read from the
    /// address's bytes, not its text: the check runs for every request to an API without
    /// tokens. A Unix socket peer is not an IP peer, and not counted as one.
    var isLoopback: Bool {
        switch self {
        case .v4(let address): LoopbackRange.contains(address.address.sin_addr)
        case .v6(let address): LoopbackRange.contains(address.address.sin6_addr)
        case .unixDomainSocket: false
        }
    }
}
