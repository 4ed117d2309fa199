import NIOCore
import NIOHTTPTypes

/// Behind the HTTP decoder: tells the connection's ``ConnectionGuard`` when a request's
/// head and end have been read and when a response has ended, and closes the connection
/// once a response that says `Connection: close` has been written.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connection: ConnectionGuard
    /// The response being written said `Connection: close`.
    private var closesAfterResponse = false

    init(connection: ConnectionGuard) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: connection.requestHeadRead()
        case .body: break
        case .end: connection.requestEndRead()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head):
            closesAfterResponse = head.headerFields[.connection]?.lowercased() == "close"
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            connection.responseEndWritten()
            guard closesAfterResponse else { return context.write(data, promise: promise) }
            // Closed once the end is on the wire: the client reads the whole response,
            // then the end of the connection, never a reset.
            let written = promise ?? context.eventLoop.makePromise()
            context.writeAndFlush(data, promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension RequestProgressHandler: Sendable {}
