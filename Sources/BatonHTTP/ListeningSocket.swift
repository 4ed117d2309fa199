import Glibc

/// A listening stream socket: bound here, or inherited from systemd.
///
/// Baton owns the descriptor rather than letting the HTTP server bind, so that the very
/// same socket can be stored with systemd and taken over by the next process.
public struct ListeningSocket: Sendable {
    public enum Origin: String, Sendable {
        /// Bound by this process.
        case bound
        /// Passed in by systemd (`LISTEN_FDS`).
        case inherited
    }

    /// Pending connections the kernel holds while no process accepts (during a handoff).
    public static let backlog: Int32 = 4096

    public let descriptor: Int32
    public let origin: Origin

    /// Wraps a descriptor systemd passed in.
    public static func inherited(_ descriptor: Int32) -> ListeningSocket {
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        Glibc.listen(descriptor, backlog)
        return ListeningSocket(descriptor: descriptor, origin: .inherited)
    }

    /// Binds and listens on `host:port` (port 0 picks a free one).
    public static func tcp(host: String, port: Int) throws(SocketError) -> ListeningSocket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            throw SocketError("cannot resolve listen address \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(results) }
        var lastError = SocketError("no address for \(host)")
        for info in sequence(first: first, next: { $0.pointee.ai_next }) {
            let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = .errno("socket")
                continue
            }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
                lastError = .errno("cannot listen on \(host):\(port)")
                close(fd)
                continue
            }
            guard Glibc.listen(fd, backlog) == 0 else {
                lastError = .errno("listen on \(host):\(port)")
                close(fd)
                continue
            }
            return ListeningSocket(descriptor: fd, origin: .bound)
        }
        throw lastError
    }

    /// Binds and listens on a Unix socket at `path`, replacing a stale one, with `mode`.
    public static func unix(path: String, mode: mode_t) throws(SocketError) -> ListeningSocket {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SocketError("control socket path is too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .errno("socket") }
        unlink(path)
        // Created without group or other access from the start: no window to connect.
        let previous = umask(~mode & 0o777)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(previous)
        guard bound == 0 else {
            let error = SocketError.errno("cannot bind control socket \(path)")
            close(fd)
            throw error
        }
        chmod(path, mode)
        guard Glibc.listen(fd, 64) == 0 else {
            let error = SocketError.errno("listen on \(path)")
            close(fd)
            throw error
        }
        return ListeningSocket(descriptor: fd, origin: .bound)
    }

    /// The TCP port the socket is bound to, if it is a TCP socket.
    public var port: Int? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) == 0 }
        }
        guard ok else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
        default:
            return nil
        }
    }
}

/// A socket could not be set up; says which and why.
public struct SocketError: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }

    static func errno(_ context: String) -> SocketError {
        SocketError("\(context): \(String(cString: strerror(Glibc.errno)))")
    }
}
