import NIOCore
import NIOHTTPTypes

/// Behind the HTTP decoder: tells the connection's ``ConnectionGuard`` when a request's
/// head and end have been read and when a response has ended.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connection: ConnectionGuard

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
        if case .end = unwrapOutboundIn(data) { connection.responseEndWritten() }
        context.write(data, promise: promise)
    }
}

@available(*, unavailable)
extension RequestProgressHandler: Sendable {}
