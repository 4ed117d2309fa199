import BatonCore
import BatonTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// Clients that send requests and leave the answers unread: Baton reads no faster than
/// its answers are taken, so such a client is held back by TCP's flow control, not served
/// out of Baton's memory, and everyone else is still served.
@Suite struct UnreadAnswersTests {
    /// What a flooding client may push at most before TCP stops it: far above what the
    /// kernel's buffers hold when Baton stops reading, far below what it would take in
    /// if it never did.
    static let pushLimit = 24 << 20

    @Test("Messages pipelined without a token, their 401s never read: Baton stops reading, and serves others")
    func pipelinedRefusalsAreHeldByFlowControl() async throws {
        let token = "front-end-token-0123456789"
        try await InProcessBaton { $0.apiTokens = [APIToken(token)] }.run { app, client in
            let port = try #require(app.httpSocket.port)
            let request = Array("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n".utf8)
            let flood = try RawSocket(port: port)
            let pushed = try await flood.pushUntilHeld(request, upTo: Self.pushLimit)
            #expect(pushed.held, "the client pushed \(pushed.bytes) bytes of requests without reading one answer, and was never held back")
            // The server's end holds the rest unread, in the kernel.
            #expect(try RawSocket.unreadBytes(onServerSideOf: flood, serverPort: port) > 0)

            #expect(try await client.request("GET", "/healthz").status == 200)
            #expect(try await client.post(session: "others", user: "alice", text: "still served", token: token).status == 202)
            #expect(try await app.store.messageCount() == 1)
        }
    }

    @Test(
        "A request that asks to close, with another pipelined behind it: the connection ends after its answer, the other unanswered",
        arguments: [
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
            "GET /healthz HTTP/1.0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n",
        ])
    func closeAskedEndsTheConnection(_ requests: String) async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let open = "baton_connections_open"
            let before = try #require(try await client.metrics()[open])
            let held = try await HeldConnections.open(count: 3, port: port, sending: requests)
            let received = Mutex("")
            _ = try await eventually("the server to close every connection after its first answer", timeout: .seconds(20)) {
                received.withLock { $0 += held.readReceived() }
                return held.closedCount() == held.count ? true : nil
            }
            // Closed whole, not only its output: the connections no longer count against the limit.
            _ = try await eventually("the connections gone from Baton's count", timeout: .seconds(20)) {
                try await client.metrics()[open] == before ? true : nil
            }
            // One answer a connection, each a 200.
            let answers = received.withLock { $0 }.components(separatedBy: "HTTP/1.").dropFirst()
            #expect(answers.count == 3, "\(answers)")
            #expect(answers.allSatisfy { $0.dropFirst(2).hasPrefix("200 ") }, "\(answers)")
            #expect(try await client.request("GET", "/healthz").status == 200)
        }
    }

    @Test("Requests pipelined whose answers are never read: the connection is closed after limits.request_timeout")
    func stalledConnectionIsClosed() async throws {
        try await InProcessBaton { $0.limits.requestTimeout = 1 }.run { app, client in
            let port = try #require(app.httpSocket.port)
            // Megabytes of answers: more than the kernel buffers between hold.
            let requests = String(repeating: "GET /style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", count: 2000)
            let held = try await HeldConnections.open(count: 1, port: port, sending: requests)
            let stalled = #"baton_connections_closed_total{reason="stalled"}"#
            _ = try await eventually("the stalled connection closed", timeout: .seconds(30)) {
                try await client.metrics()[stalled] == 1 ? true : nil
            }
            _ = try await eventually("the close seen by the client once it reads", timeout: .seconds(20)) {
                _ = held.readReceived()
                return held.closedCount() == 1 ? true : nil
            }
            #expect(try await client.request("GET", "/healthz").status == 200)
        }
    }
}

/// A plain TCP connection to 127.0.0.1, for a client that writes and never reads.
final class RawSocket: Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(descriptor)
            throw POSIXError(.init(rawValue: errno) ?? .ECONNREFUSED)
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    deinit {
        Glibc.close(descriptor)
    }

    /// The client's own port.
    var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Writes `request` again and again, reading nothing, until the connection takes no
    /// more for five seconds (held: the server stopped reading and the buffers between
    /// are full) or `limit` bytes went out.
    func pushUntilHeld(_ request: [UInt8], upTo limit: Int) async throws -> (held: Bool, bytes: Int) {
        let chunk = Array([[UInt8]](repeating: request, count: max(1, 16_384 / request.count)).joined())
        var bytes = 0
        var offset = 0
        while bytes < limit {
            let written = chunk[offset...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                bytes += written
                offset = (offset + written) % chunk.count
                continue
            }
            guard written < 0, errno == EAGAIN || errno == EWOULDBLOCK else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            var entry = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            // Blocking the test's thread for five seconds at most: a plain client's wait.
            if poll(&entry, 1, 5000) == 0 { return (true, bytes) }
            await Task.yield()
        }
        return (false, bytes)
    }

    /// A `/proc` file whole: read to its end, a page at a time (its size says 0).
    private static func procFile(_ path: String) throws -> String {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .ENOENT) }
        defer { Glibc.close(descriptor) }
        var contents: [UInt8] = []
        var page = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = page.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            contents += page[..<count]
        }
        return String(decoding: contents, as: UTF8.self)
    }

    /// Bytes waiting unread in the server's end of `client`'s connection (`/proc/net/tcp`).
    static func unreadBytes(onServerSideOf client: RawSocket, serverPort: Int) throws -> Int {
        let table = try procFile("/proc/net/tcp")
        let local = String(format: "0100007F:%04X", serverPort)
        let remote = String(format: "0100007F:%04X", client.localPort)
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[1] == local, fields[2] == remote else { continue }
            // tx_queue:rx_queue, in hex.
            let queues = fields[4].split(separator: ":")
            return Int(queues[1], radix: 16) ?? 0
        }
        throw POSIXError(.ENOENT)
    }
}
