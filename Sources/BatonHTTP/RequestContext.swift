import Hummingbird
import NIOCore

/// The per-request context of Baton's routers.
public struct BatonRequestContext: RequestContext, CallerRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connected peer: the client, or the reverse proxy in front of Baton.
    public let remoteAddress: SocketAddress?
    /// Who is calling; set by the token check, which every chat API route passes.
    /// Until then, a caller without a token from another machine.
    public var caller = Caller.unauthenticated(fromThisMachine: false)

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Bodies are collected with the API's own limit, checked in the handler.
    public var maxUploadSize: Int { 16 * 1024 * 1024 }
}

/// A request context that knows its peer and can carry the ``Caller`` the token check found.
public protocol CallerRequestContext: RemoteAddressRequestContext {
    var caller: Caller { get set }
}
