import Foundation
import NIOCore
import NIOPosix

/// One kept-alive HTTP/1.1 connection to 127.0.0.1 that posts messages one after another
/// and reads each response whole, to see what the server does with the connection itself:
/// keeps it open, or says `Connection: close` and closes it. Reads wait without limit:
/// run it under `withTimeout`.
final class KeptAliveConnection: Sendable {
    /// A response's status, header fields (names in lower case) and body.
    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: String
    }

    private let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    private init(channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>) {
        self.channel = channel
    }

    static func open(port: Int) async throws -> KeptAliveConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel) }
            }
        return KeptAliveConnection(channel: channel)
    }

    /// A message's POST for `session`, as bytes to send.
    static func postRequest(session: String, text: String) -> String {
        let body = #"{"session":"\#(session)","user":"bob","text":"\#(text)"}"#
        return "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// `GET path`, as bytes to send.
    static func getRequest(_ path: String) -> String {
        "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    }

    /// Runs `body` with the connection's reader, and closes the connection after.
    func use<T: Sendable>(_ body: (inout Reader) async throws -> T) async throws -> T {
        try await channel.executeThenClose { inbound, outbound in
            var reader = Reader(inbound: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&reader)
        }
    }

    struct Reader {
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        var buffered: [UInt8] = []

        /// Posts a message for `session` and reads the response whole.
        mutating func post(session: String, text: String) async throws -> Response {
            try await send([KeptAliveConnection.postRequest(session: session, text: text)])[0]
        }

        /// Sends `GET path` and reads the response whole.
        mutating func get(_ path: String) async throws -> Response {
            try await send([KeptAliveConnection.getRequest(path)])[0]
        }

        /// Sends `requests` in one write (pipelined) and reads a response for each, in order.
        mutating func send(_ requests: [String]) async throws -> [Response] {
            try await outbound.write(ByteBuffer(string: requests.joined()))
            var responses: [Response] = []
            for _ in requests { responses.append(try await readResponse()) }
            return responses
        }

        /// Sends `requests` in one write (pipelined) and reads responses until the server
        /// closes the connection.
        mutating func sendUntilClosed(_ requests: [String]) async throws -> [Response] {
            try await outbound.write(ByteBuffer(string: requests.joined()))
            var responses: [Response] = []
            while true {
                do {
                    responses.append(try await readResponse())
                } catch is ClosedEarly, is ChannelError {
                    return responses
                }
            }
        }

        /// Whether the server closes the connection (rather than sending anything more).
        mutating func serverCloses() async throws -> Bool {
            guard buffered.isEmpty else { return false }
            do {
                return try await inbound.next() == nil
            } catch is ChannelError {
                return true
            }
        }

        private mutating func readResponse() async throws -> Response {
            let separator = Array("\r\n\r\n".utf8)
            while true {
                if let end = buffered.firstRange(of: separator) {
                    let head = String(decoding: buffered[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
                    var headers: [String: String] = [:]
                    for line in head.dropFirst() {
                        let parts = line.split(separator: ":", maxSplits: 1)
                        if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
                    }
                    let length = Int(headers["content-length"] ?? "0") ?? 0
                    if buffered.count - end.upperBound >= length {
                        let body = String(decoding: buffered[end.upperBound..<(end.upperBound + length)], as: UTF8.self)
                        buffered.removeFirst(end.upperBound + length)
                        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
                        return Response(status: status, headers: headers, body: body)
                    }
                }
                guard let more = try await inbound.next() else { throw ClosedEarly() }
                buffered += Array(more.readableBytesView)
            }
        }
    }

    struct ClosedEarly: Error, CustomStringConvertible {
        var description: String { "the server closed the connection before the response was whole" }
    }
}
