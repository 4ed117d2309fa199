import Dispatch
import Foundation
import Glibc

/// One HTTP/1.1 request on a connection of its own (`Connection: close`), with plain
/// sockets: a refused connection, a reset or a close before the answer each show as
/// exactly that, with no client pool or retry in between. For judging restarts.
public enum OneShotHTTP {
    /// How an exchange went wrong.
    public enum Failure: Error, CustomStringConvertible {
        /// `connect` failed: nothing accepted the connection (ECONNREFUSED and the like).
        case connect(Int32)
        /// Sending the request failed.
        case send(Int32)
        /// The connection broke (ECONNRESET and the like) before the whole answer came.
        case receive(Int32)
        /// The server closed the connection without a complete answer.
        case closedEarly(bytes: Int)

        public var description: String {
            switch self {
            case .connect(let code): "connect: \(String(cString: strerror(code)))"
            case .send(let code): "send: \(String(cString: strerror(code)))"
            case .receive(let code): "receive: \(String(cString: strerror(code)))"
            case .closedEarly(let bytes): "the server closed the connection after \(bytes) bytes, without a complete answer"
            }
        }
    }

    /// Sends `POST path` with a JSON `body` to 127.0.0.1:`port` and returns the answer.
    public static func post(port: Int, path: String, json body: [UInt8]) async throws -> BatonHTTPClient.Response {
        var request = Array("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n".utf8)
        request += Array("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8)
        request += body
        let message = request
        return try await withCheckedThrowingContinuation { continuation in
            // Blocking calls belong on a thread of their own, not on the concurrency pool.
            DispatchQueue.global().async {
                continuation.resume(with: Result { try exchange(port: port, request: message) })
            }
        }
    }

    private static func exchange(port: Int, request: [UInt8]) throws -> BatonHTTPClient.Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.connect(errno) }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure.connect(errno) }
        var sent = 0
        while sent < request.count {
            let count = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw Failure.send(errno) }
            sent += count
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else { throw Failure.receive(errno) }
            received += chunk[0..<count]
        }
        guard let response = parse(received) else { throw Failure.closedEarly(bytes: received.count) }
        return response
    }

    /// Parses a complete HTTP/1.1 answer with a `Content-Length` body; nil when incomplete.
    private static func parse(_ bytes: [UInt8]) -> BatonHTTPClient.Response? {
        let separator = Array("\r\n\r\n".utf8)
        guard let split = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: bytes[..<split], as: UTF8.self).components(separatedBy: "\r\n")
        guard let status = lines.first?.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) else { return nil }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let body = Array(bytes[(split + separator.count)...])
        if let length = headers.first(where: { $0.0.lowercased() == "content-length" }).flatMap({ Int($0.1) }), body.count < length {
            return nil
        }
        return BatonHTTPClient.Response(
            status: status, instance: headers.first { $0.0.lowercased() == "baton-instance" }?.1, headers: headers, body: body)
    }
}
