import BatonTestSupport
import NIOCore
import NIOPosix

/// One TCP connection to 127.0.0.1 that sends exactly the bytes it is given, for requests
/// no HTTP client would send: broken request lines, oversized headers, bodies that stop
/// short or arrive in pieces.
///
/// After the last piece it half-closes (the server sees the end of the request) and reads
/// until the server closes, collecting the status of every response it wrote.
struct RawHTTPExchange: Sendable {
    /// What the server did with the bytes.
    struct Outcome: Sendable, CustomStringConvertible {
        /// The status of each response, in order; empty when it closed without answering.
        var statuses: [Int]
        /// The bytes received (the start of them, for failure messages).
        var head: String

        var description: String { statuses.isEmpty ? "closed without an answer" : "answered \(statuses)" }
    }

    /// The pieces sent one after another.
    var pieces: [[UInt8]]
    /// A pause before each piece after the first: a slow client.
    var pause: Duration?

    /// Connects, sends, half-closes and reads to the end; a reset connection counts as closed.
    func run(port: Int, timeout: Duration = .seconds(20)) async throws -> Outcome {
        let pieces = pieces
        let pause = pause
        return try await withTimeout(timeout, waitingFor: "the server to answer or close a raw connection") {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
                .connect(host: "127.0.0.1", port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
            var received: [UInt8] = []
            try await channel.executeThenClose { inbound, outbound in
                do {
                    for (index, piece) in pieces.enumerated() {
                        if index > 0, let pause { try await Task.sleep(for: pause) }
                        try await outbound.write(ByteBuffer(bytes: piece))
                    }
                    outbound.finish()
                } catch where Self.isClosedByPeer(error) {
                    // The server closed while we were still sending: it may have answered first.
                }
                do {
                    for try await buffer in inbound { received += Array(buffer.readableBytesView) }
                } catch where Self.isClosedByPeer(error) {
                }
            }
            return Outcome(statuses: Self.statuses(in: received), head: String(decoding: received.prefix(300), as: UTF8.self))
        }
    }

    /// A reset or already closed connection: the server's way of refusing.
    static func isClosedByPeer(_ error: any Error) -> Bool {
        error is IOError || error is ChannelError
    }

    /// The status codes of the responses in `bytes`: each `HTTP/1.x NNN` that starts a line.
    static func statuses(in bytes: [UInt8]) -> [Int] {
        let text = String(decoding: bytes, as: UTF8.self)
        var statuses: [Int] = []
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: false)
        where line.hasPrefix("HTTP/1.1 ") || line.hasPrefix("HTTP/1.0 ") {
            if let status = Int(line.dropFirst(9).prefix(3)) { statuses.append(status) }
        }
        return statuses
    }
}
