import NIOCore

/// What keeps a Server-Sent Events stream alive while nothing happens: a comment every
/// ``interval``, which clients skip.
///
/// A client that vanished without closing its connection (a laptop gone to sleep, a NAT
/// that forgot the connection) is then noticed by a failed write, and its connection
/// freed, rather than held until the session's next event, perhaps for good; and a
/// proxy that cuts connections idle for a minute (nginx's default) leaves the stream be.
enum StreamKeepAlive {
    static let interval: Duration = .seconds(15)
    static let comment = ByteBuffer(string: ": keep-alive\n\n")

    /// Runs `body` with `items` and a `nil` every `interval` among them, buffering at most
    /// `bufferLimit` (the newest; a stream that lags fills its gaps from the store). Ends
    /// when `items` ends or `body` returns.
    static func merging<Element: Sendable>(
        _ items: AsyncStream<Element>, bufferLimit: Int, every interval: Duration = interval,
        _ body: (AsyncStream<Element?>) async throws -> Void
    ) async throws {
        let (merged, continuation) = AsyncStream.makeStream(of: Element?.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await item in items { continuation.yield(item) }
                continuation.finish()
            }
            group.addTask {
                while (try? await Task.sleep(for: interval)) != nil {
                    continuation.yield(nil)
                }
            }
            defer { group.cancelAll() }
            try await body(merged)
        }
    }
}
