import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Serves a router on a socket Baton already holds (bound or inherited from systemd).
///
/// Hummingbird's own server always binds; Baton needs to serve a descriptor it can also
/// hand to systemd, so this service runs Hummingbird's HTTP/1 channel on
/// ``ListeningSocket``. On graceful shutdown it stops accepting and lets open
/// connections finish their current request.
public final class HTTPListener: Service, Sendable {
    private let name: String
    private let socket: ListeningSocket
    private let responder: HTTPChannelHandler.Responder
    private let logger: Logger
    private let onStarted: @Sendable () async -> Void
    private let admitPeer: (@Sendable (PeerCredentials) -> Bool)?
    /// Bounds the connections and their deadlines; nil keeps Hummingbird's idle timeout only.
    private let connections: ConnectionRegistry?
    /// Answers `POST /v1/messages` in front of the router; nil leaves it to the router.
    private let messages: MessageEndpoint?
    /// How long a connection accepted just before shutdown has to send its request.
    private let lastRequestGrace: TimeAmount
    /// When the last connection was accepted (uptime nanoseconds); the grace is only
    /// waited for if that was within it.
    private let lastAccept = LastAccept()

    public init(
        name: String,
        socket: ListeningSocket,
        router: Router<BatonRequestContext>,
        logger: Logger,
        admitPeer: (@Sendable (PeerCredentials) -> Bool)? = nil,
        connections: ConnectionRegistry? = nil,
        messages: MessageEndpoint? = nil,
        lastRequestGrace: TimeAmount = .milliseconds(200),
        onStarted: @escaping @Sendable () async -> Void = {}
    ) {
        self.lastRequestGrace = lastRequestGrace
        self.admitPeer = admitPeer
        self.connections = connections
        self.messages = messages
        self.name = name
        self.socket = socket
        self.logger = logger
        self.onStarted = onStarted
        let routerResponder = router.buildResponder()
        self.responder = { request, responseWriter, channel in
            let context = BatonRequestContext(source: .init(channel: channel, logger: logger))
            let response: Response
            do {
                response = try await routerResponder.respond(to: request, context: context)
            } catch {
                response = Response(status: .internalServerError)
            }
            try await responseWriter.write(response: response.head, body: response.body)
        }
    }

    /// The connected peer's process credentials (`SO_PEERCRED`), for Unix sockets.
    private static func peerCredentials(of channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededFuture(nil) }
        let future: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: .socket, name: .init(rawValue: SO_PEERCRED))
        return future.map { Optional($0) }.recover { _ in nil }
    }

    public func run() async throws {
        let lastRequestGrace = self.lastRequestGrace
        let lastAccept = self.lastAccept
        let connections = self.connections
        // The registry's guard closes idle connections itself (and slow ones, which
        // Hummingbird's idle timeout cannot tell from idle ones).
        let idleTimeout: TimeAmount? = connections == nil ? .seconds(75) : nil
        let childChannel = HandoffSafeHTTP1Channel(
            HTTP1Channel(responder: responder, configuration: .init(idleTimeout: idleTimeout)), connections: connections,
            messages: messages)
        let quiescing = ServerQuiescingHelper(group: MultiThreadedEventLoopGroup.singleton)
        let logger = self.logger
        let serverChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    if let connections { try channel.pipeline.syncOperations.addHandler(AcceptCounter(connections: connections)) }
                }
            }
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(socket.descriptor) { [admitPeer, lastAccept] channel in
                lastAccept.now()
                guard let admitPeer else { return childChannel.setup(channel: channel, logger: logger) }
                return Self.peerCredentials(of: channel).flatMap { credentials in
                    guard let credentials, admitPeer(credentials) else {
                        logger.warning("Refused a control connection", metadata: ["baton.peer_uid": "\(credentials.map { "\($0.uid)" } ?? "unknown")"])
                        channel.close(promise: nil)
                        return channel.eventLoop.makeFailedFuture(PeerRefused())
                    }
                    return childChannel.setup(channel: channel, logger: logger)
                }
            }
        // NIO re-listens with its default backlog; restore the deep one for handoffs.
        _ = Glibc.listen(socket.descriptor, ListeningSocket.backlog)
        logger.info("Listening", metadata: ["baton.listener": "\(name)", "baton.socket": "\(socket.origin.rawValue)"])
        await onStarted()
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            connections?.arrived()
                            group.addTask { await childChannel.handle(value: connection, logger: logger) }
                        }
                    }
                } catch {
                    logger.error("Listener failed", metadata: ["baton.listener": "\(name)", "baton.error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            // Stop accepting first: under systemd the socket lives on in the fd store and
            // the next process accepts what arrives from now on. Connections accepted
            // just before get a moment to deliver their request, then every connection
            // closes once its current response is written. Reading stops rather than the
            // listener closing: a close while connections are still being set up would drop
            // them unserved; the quiescing helper closes it once they have been taken.
            // Nothing accepted lately: nothing to wait for, and the process exits at once.
            let giveUpAt = NIODeadline.now() + max(lastRequestGrace - lastAccept.age, .zero)
            let loop = serverChannel.channel.eventLoop
            // Checked on the listener's event loop once it accepts no more: every
            // connection it accepted is counted by then.
            serverChannel.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in
                Self.quiesce(quiescing, on: loop, onceHeardFrom: connections, orAt: giveUpAt)
            }
        }
        logger.info("Listener closed", metadata: ["baton.listener": "\(name)"])
    }
}

extension HTTPListener {
    /// Quiesces once every open connection has sent something (the registry knows), so
    /// none accepted just before is closed under a request on its way; at `giveUpAt` in
    /// any case. Without a registry, at `giveUpAt`. Clients that reconnect for every
    /// request, as they do once a drain says `Connection: close`, keep this short.
    fileprivate static func quiesce(
        _ quiescing: ServerQuiescingHelper, on loop: any EventLoop, onceHeardFrom connections: ConnectionRegistry?, orAt giveUpAt: NIODeadline
    ) {
        let heardFromAll = connections.map { !$0.hasSilentConnections } ?? false
        guard !heardFromAll, NIODeadline.now() < giveUpAt else { return quiescing.initiateShutdown(promise: nil) }
        loop.scheduleTask(in: .milliseconds(2)) {
            quiesce(quiescing, on: loop, onceHeardFrom: connections, orAt: giveUpAt)
        }
    }
}

/// In the listening channel's pipeline: counts each accepted connection as arriving
/// (``ConnectionRegistry/arriving()``) the moment it is accepted, on the listener's event
/// loop, where the shutdown checks the count.
private final class AcceptCounter: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel
    let connections: ConnectionRegistry

    init(connections: ConnectionRegistry) {
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connections.arriving()
        context.fireChannelRead(data)
    }
}

@available(*, unavailable)
extension AcceptCounter: Sendable {}

/// A connection from a process the control socket does not serve.
struct PeerRefused: Error, CustomStringConvertible {
    var description: String { "connection refused: the peer runs as another user" }
}

/// A Unix socket peer's process, user and group (`struct ucred` of `SO_PEERCRED`).
public struct PeerCredentials: Sendable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
}

/// The time of the latest accepted connection.
private final class LastAccept: Sendable {
    private let uptime = Atomic<UInt64>(0)

    func now() {
        uptime.store(NIODeadline.now().uptimeNanoseconds, ordering: .relaxed)
    }

    /// Time since the latest accept (very long if none).
    var age: TimeAmount {
        let last = uptime.load(ordering: .relaxed)
        guard last > 0 else { return .hours(1) }
        return .nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds - last))
    }
}
