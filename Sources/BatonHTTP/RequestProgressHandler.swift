import DequeModule
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Behind the HTTP decoder: tells the connection's ``ConnectionGuard`` when a request's
/// head and end have been read and when a response has ended, and closes the connection
/// once a response that says `Connection: close`, or the response to a request that asked
/// for it (HTTP/1.0 without keep-alive among them, ``HTTP10Semantics``), has been written:
/// requests read behind it are never answered, and must not keep it open.
final class RequestProgressHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connection: ConnectionGuard
    /// The response being written said `Connection: close`.
    private var closesAfterResponse = false
    /// Whether each request read and not yet answered asked to close the connection, in order.
    private var closeAsked: Deque<Bool> = []

    init(connection: ConnectionGuard) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            closeAsked.append(Self.asksToClose(head.headerFields))
            connection.requestHeadRead()
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
            let asked = closeAsked.popFirst() ?? false
            guard closesAfterResponse || asked else { return context.write(data, promise: promise) }
            // Closed once the end is on the wire: the client reads the whole response,
            // then the end of the connection, never a reset.
            let written = promise ?? context.eventLoop.makePromise()
            context.writeAndFlush(data, promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

extension RequestProgressHandler {
    /// Whether a request says `Connection: close`.
    static func asksToClose(_ fields: HTTPFields) -> Bool {
        fields[values: .connection].contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }
}

@available(*, unavailable)
extension RequestProgressHandler: Sendable {}
