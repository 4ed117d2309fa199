import Dispatch
import Foundation
import Glibc

/// Stands in for systemd's notification socket: a process started with
/// `NOTIFY_SOCKET=<path>` reports `READY=1`, `STOPPING=1`, `STATUS=…` here, and the test
/// awaits those reports as events instead of polling.
///
/// Descriptors sent with `FDSTORE=1` are closed on arrival; only the message is kept.
public final class NotifySocket: Sendable {
    /// One datagram: its `KEY=value` lines.
    public struct Message: Sendable, Equatable {
        public var assignments: [String: String]
        /// Descriptors that came with it (already closed).
        public var descriptorCount: Int

        public subscript(key: String) -> String? { assignments[key] }
    }

    public let path: String
    private let messages = ObservedState<[Message]>([])
    /// Dispatch sources are thread-safe; the type is just not marked Sendable.
    nonisolated(unsafe) private let source: any DispatchSourceRead
    private let descriptor: Int32

    public init(path: String) throws {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let error = POSIXError(.init(rawValue: errno) ?? .EIO)
            Glibc.close(fd)
            throw error
        }
        self.path = path
        self.descriptor = fd
        let messages = self.messages
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: DispatchQueue(label: "baton.test.notify"))
        source.setEventHandler {
            while let message = Self.receive(fd) {
                messages.update { $0.append(message) }
            }
        }
        source.setCancelHandler { Glibc.close(fd) }
        self.source = source
        source.resume()
    }

    /// Every message so far, oldest first.
    public var received: [Message] { messages.value }

    /// Waits for a message carrying `key` (with `value`, if given), including ones that
    /// already arrived.
    @discardableResult
    public func wait(for key: String, value: String? = nil, timeout: Duration = .seconds(30)) async throws -> Message {
        let messages = self.messages
        let what = value.map { "\(key)=\($0)" } ?? key
        return try await withTimeout(timeout, waitingFor: "\(what) on \(path)") {
            try await messages.wait { received in
                received.first { message in message[key] != nil && (value == nil || message[key] == value) }
            }
        }
    }

    /// Waits for a message that `matches`, including ones that already arrived.
    @discardableResult
    public func wait(
        for description: String, timeout: Duration = .seconds(30), where matches: @escaping @Sendable (Message) -> Bool
    ) async throws -> Message {
        let messages = self.messages
        return try await withTimeout(timeout, waitingFor: "\(description) on \(path)") {
            try await messages.wait { received in received.first(where: matches) }
        }
    }

    /// Stops listening and removes the socket file.
    public func close() {
        unlink(path)
        source.cancel()
    }

    /// Reads one datagram without blocking; nil when none is waiting.
    private static func receive(_ fd: Int32) -> Message? {
        var data = [UInt8](repeating: 0, count: 16384)
        let controlSize = 4096
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: MemoryLayout<Int>.alignment)
        defer { control.deallocate() }
        let (count, descriptors) = data.withUnsafeMutableBytes { buffer -> (Int, Int) in
            var vector = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                var header = msghdr()
                header.msg_iov = vectorPointer
                header.msg_iovlen = 1
                header.msg_control = control
                header.msg_controllen = controlSize
                let count = recvmsg(fd, &header, Int32(MSG_DONTWAIT) | Int32(MSG_CMSG_CLOEXEC))
                guard count >= 0 else { return (count, 0) }
                return (count, closeDescriptors(in: control, length: Int(header.msg_controllen)))
            }
        }
        guard count >= 0 else { return nil }
        var assignments: [String: String] = [:]
        for line in String(decoding: data[0..<count], as: UTF8.self).split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            assignments[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return Message(assignments: assignments, descriptorCount: descriptors)
    }

    /// Closes every descriptor passed in `SCM_RIGHTS` control messages; returns how many.
    private static func closeDescriptors(in control: UnsafeMutableRawPointer, length: Int) -> Int {
        // struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; } then data, aligned to size_t.
        let headerSize = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
        let align = { (n: Int) in (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }
        var offset = 0
        var closed = 0
        while offset + headerSize <= length {
            let messageLength = control.load(fromByteOffset: offset, as: Int.self)
            let level = control.load(fromByteOffset: offset + MemoryLayout<Int>.size, as: Int32.self)
            let type = control.load(fromByteOffset: offset + MemoryLayout<Int>.size + 4, as: Int32.self)
            guard messageLength >= headerSize else { break }
            if level == SOL_SOCKET, type == Int32(SCM_RIGHTS) {
                let dataStart = offset + align(headerSize)
                let descriptors = (messageLength - align(headerSize)) / MemoryLayout<Int32>.size
                for index in 0..<descriptors {
                    Glibc.close(control.load(fromByteOffset: dataStart + index * 4, as: Int32.self))
                    closed += 1
                }
            }
            offset += align(messageLength)
        }
        return closed
    }
}
