import Foundation
import Glibc
import Synchronization

/// Plain TCP connections a test opens to a server and holds: idle ones (a broken client
/// pool, a scanner), ones that send part of a request and stall (a slowloris), or
/// keep-alive ones that sent a whole request and then say nothing.
public final class HeldConnections: Sendable {
    private let descriptors: Mutex<[Int32]>

    private init(_ descriptors: [Int32]) {
        self.descriptors = Mutex(descriptors)
    }

    deinit {
        descriptors.withLock { for fd in $0 { Glibc.close(fd) } }
    }

    /// Opens `count` connections to 127.0.0.1:`port`, each sending `prefix` (nothing: idle).
    public static func open(count: Int, port: Int, sending prefix: String = "") async throws -> HeldConnections {
        try await withCheckedThrowingContinuation { continuation in
            // Blocking connects belong on a thread of their own, not on the concurrency pool.
            DispatchQueue.global().async {
                continuation.resume(with: Result { try HeldConnections(connect(count: count, port: port, sending: Array(prefix.utf8))) })
            }
        }
    }

    /// Connections held.
    public var count: Int { descriptors.withLock { $0.count } }

    /// How many of them the server has closed (a read would end or fail).
    public func closedCount() -> Int {
        descriptors.withLock { descriptors in
            descriptors.count { fd in
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&entry, 1, 0) == 1 else { return false }
                if entry.revents & (Int16(POLLHUP) | Int16(POLLERR)) != 0 { return true }
                var byte: UInt8 = 0
                return recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) == 0
            }
        }
    }

    /// Reads and returns what the server has sent so far on every connection (a response
    /// to a whole request sent as the prefix), so that ``closedCount()`` sees a close
    /// behind it.
    public func readReceived() -> String {
        descriptors.withLock { descriptors in
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            for fd in descriptors {
                while true {
                    let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    guard count > 0 else { break }
                    received += buffer[..<count]
                }
            }
            return String(decoding: received, as: UTF8.self)
        }
    }

    /// Closes every connection.
    public func closeAll() {
        descriptors.withLock { descriptors in
            for fd in descriptors { Glibc.close(fd) }
            descriptors = []
        }
    }

    private static func connect(count: Int, port: Int, sending prefix: [UInt8]) throws -> [Int32] {
        var opened: [Int32] = []
        opened.reserveCapacity(count)
        do {
            for _ in 0..<count {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                opened.append(fd)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                address.sin_port = UInt16(port).bigEndian
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard connected == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                if !prefix.isEmpty {
                    guard prefix.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == prefix.count else {
                        throw POSIXError(.init(rawValue: errno) ?? .EIO)
                    }
                }
            }
        } catch {
            for fd in opened { Glibc.close(fd) }
            throw error
        }
        return opened
    }
}

/// This process's limit on open descriptors.
public enum TestDescriptorLimit {
    /// Raises this process's soft `RLIMIT_NOFILE` to at least `wanted` (at most the hard
    /// limit); returns the soft limit now.
    @discardableResult
    public static func raise(to wanted: Int) -> Int {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var limit = rlimit()
        getrlimit(resource, &limit)
        if limit.rlim_cur < rlim_t(wanted) {
            limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            setrlimit(resource, &limit)
            getrlimit(resource, &limit)
        }
        return Int(limit.rlim_cur)
    }
}
