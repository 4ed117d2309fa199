import NIOCore
import NIOHTTP1

/// In front of the conversion to HTTP types, which drops the request's version: an
/// HTTP/1.0 request that does not ask for `Connection: keep-alive` is given
/// `Connection: close`, so that its connection ends after the answer, as HTTP/1.0 says,
/// whichever handler answers it.
final class HTTP10ConnectionClose: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive, !head.headers[canonicalForm: "connection"].contains("close")
        else {
            return context.fireChannelRead(data)
        }
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

@available(*, unavailable)
extension HTTP10ConnectionClose: Sendable {}
