import BatonCore
import Glibc

extension ListeningSocket {
    /// The address the socket is bound to, as the kernel reports it: for a socket from
    /// systemd this may differ from `listen`. Nil for a socket that is not TCP.
    public var localAddress: ListenAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                guard getsockname(descriptor, address, &length) == 0 else { return nil }
                return ListenAddress(socketAddress: address, length: length)
            }
        }
    }
}
