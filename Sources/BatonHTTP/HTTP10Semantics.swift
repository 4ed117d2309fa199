import NIOCore
import NIOHTTP1

/// In front of the conversion to HTTP types, which drops the request's version: an
/// HTTP/1.0 request gets what HTTP/1.0 says, whichever handler answers it. Unless it asks
/// for `Connection: keep-alive`, it is given `Connection: close`, so that its connection
/// ends after the answer; an `Expect` it sent is dropped (no `100 Continue` goes to an
/// HTTP/1.0 client, RFC 9110 §10.1.1).
final class HTTP10Semantics: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), head.version == .http1_0 else {
            return context.fireChannelRead(data)
        }
        if !head.isKeepAlive, !head.headers[canonicalForm: "connection"].contains("close") {
            head.headers.replaceOrAdd(name: "Connection", value: "close")
        }
        head.headers.remove(name: "Expect")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

@available(*, unavailable)
extension HTTP10Semantics: Sendable {}
