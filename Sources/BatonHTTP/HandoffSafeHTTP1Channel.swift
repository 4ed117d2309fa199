import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel, safe for a listener that closes while connections
/// are still arriving, as at every restart under load.
///
/// A connection accepted just as the listening channel closes can be dropped by NIO before
/// the accept loop sees it (apple/swift-nio#2813). Its `NIOAsyncChannel` is then released
/// without `finish()`, a precondition failure that crashes the whole process, release
/// builds included, in the middle of a handoff. Each accepted connection is wrapped so
/// that one dropped that way finishes its writer and closes instead.
///
/// With a ``ConnectionRegistry``, each connection also gets a ``ConnectionGuard`` in front
/// of the HTTP decoder and a ``RequestProgressHandler`` behind it; with a
/// ``MessageEndpoint``, a ``MessageEndpointHandler`` in front of the router. Every
/// connection gets ``HTTP10Semantics``.
struct HandoffSafeHTTP1Channel: Sendable {
    let base: HTTP1Channel
    let connections: ConnectionRegistry?
    let messages: MessageEndpoint?

    init(_ base: HTTP1Channel, connections: ConnectionRegistry? = nil, messages: MessageEndpoint? = nil) {
        self.base = base
        self.connections = connections
        self.messages = messages
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<AcceptedConnection> {
        guard connections != nil || messages != nil else {
            return base.setup(channel: channel, logger: logger).assumeIsolated().flatMapThrowing { value in
                try Self.closeHTTP10(channel)
                return AcceptedConnection(value)
            }.nonisolated()
        }
        let connection = connections.map(ConnectionGuard.init(registry:))
        if let connection {
            do {
                try channel.pipeline.syncOperations.addHandler(connection, position: .first)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        // The child channel initializer runs on the connection's event loop.
        return base.setup(channel: channel, logger: logger).assumeIsolated().flatMapThrowing { value in
            // Behind the decoder and Hummingbird's extra handlers, around its connection state.
            let pipeline = channel.pipeline.syncOperations
            try Self.closeHTTP10(channel)
            let state = try pipeline.handler(type: HTTPConnectionStateHandler.self)
            if let connection { try pipeline.addHandler(RequestProgressHandler(connection: connection), position: .before(state)) }
            if let messages { try pipeline.addHandler(messages.handler(logger: logger), position: .after(state)) }
            return AcceptedConnection(value)
        }.nonisolated()
    }

    /// Puts ``HTTP10Semantics`` in front of the conversion to HTTP types.
    private static func closeHTTP10(_ channel: any Channel) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(HTTP10Semantics(), position: .before(try pipeline.handler(type: HTTP1ToHTTPServerCodec.self)))
    }

    func handle(value: AcceptedConnection, logger: Logger) async {
        await base.handle(value: value.channel, logger: logger)
    }
}

/// An accepted HTTP/1 connection; closes itself if it is released without being served.
final class AcceptedConnection: Sendable {
    let channel: HTTP1Channel.Value

    init(_ channel: HTTP1Channel.Value) {
        self.channel = channel
    }

    deinit {
        // A served connection was finished and closed by `executeThenClose`, and both calls
        // do nothing; they matter only for one the accept loop never saw.
        channel.outbound.finish()
        channel.channel.close(promise: nil)
    }
}
