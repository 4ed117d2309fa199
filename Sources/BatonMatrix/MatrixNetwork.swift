import AsyncHTTPClient
import BatonCore
import CoreMetrics
import Logging
import ServiceLifecycle

/// Baton as a Matrix bot: a `Service` beside the HTTP API that feeds room messages to the
/// gateway and delivers the sessions' replies and notices back to their rooms.
///
/// A room is a session whose id is the room id. Input and output are both exactly once
/// across restarts and crashes: see ``MatrixSync`` and ``ChatDelivery``. On shutdown it
/// stops syncing at once and gives undelivered events ``flushTimeout`` before leaving
/// them to the next process.
public final class MatrixNetwork: Service, Sendable {
    /// The network's name: its status key, its metric prefix, its stored positions.
    public static let name = "matrix"
    /// How long delivery may go on once the process is shutting down.
    static let flushTimeout = Duration.seconds(3)

    private let configuration: MatrixConfiguration
    private let gateway: Gateway
    private let store: any Store
    private let writer: StoreWriter
    private let bus: EventBus
    private let metrics: MatrixMetrics
    private let paging: MatrixPaging
    private let logger: Logger

    public init(
        configuration: MatrixConfiguration, gateway: Gateway, store: any Store, writer: StoreWriter, bus: EventBus,
        metricsFactory: any MetricsFactory, paging: MatrixPaging = .standard, logger: Logger
    ) {
        self.configuration = configuration
        self.gateway = gateway
        self.store = store
        self.writer = writer
        self.bus = bus
        self.metrics = MatrixMetrics(factory: metricsFactory)
        self.paging = paging
        var logger = logger
        logger[metadataKey: "baton.network"] = "\(Self.name)"
        self.logger = logger
        gateway.networks.register(Self.name, ChatNetworkStatus(state: .starting, user: configuration.userID))
    }

    public func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let client = MatrixClient(http: http, configuration: configuration)
        let typing = MatrixTyping(client: client, gateway: gateway, logger: logger)
        let threads = MatrixThreads(client: client)
        let claim = MatrixAccountClaim(client: client, store: store, writer: writer)
        let sync = MatrixSync(
            client: client, gateway: gateway, store: store, writer: writer, configuration: configuration, typing: typing,
            threads: threads, claim: claim, metrics: metrics, logger: logger, paging: paging)
        let delivery = ChatDelivery(
            outbox: MatrixOutbox(client: client, typing: typing, threads: threads, metrics: metrics), store: store, writer: writer, bus: bus, logger: logger,
            backlogChanged: { [gateway, metrics] backlog in
                metrics.backlog(backlog)
                await gateway.updateNetwork(Self.name) { $0.backlog = backlog }
            })
        logger.info("Matrix adapter starting", metadata: ["baton.user": "\(configuration.userID)", "baton.homeserver": "\(configuration.homeserver)"])

        enum Part { case sync, delivery, typing, deadline }
        await withTaskGroup(of: Part.self) { group in
            group.addTask {
                await cancelWhenGracefulShutdown { await sync.run() }
                return .sync
            }
            group.addTask {
                await cancelWhenGracefulShutdown { await typing.renewWhileBusy() }
                return .typing
            }
            group.addTask {
                await delivery.run()
                return .delivery
            }
            group.addTask {
                // Once shutting down, delivery gets flushTimeout, then what is left waits
                // for the next process.
                try? await gracefulShutdown()
                try? await Task.sleep(for: Self.flushTimeout)
                return .deadline
            }
            var running = 3
            while running > 0, let part = await group.next() {
                if part == .deadline { break }
                running -= 1
            }
            group.cancelAll()
        }
        // A restart keeps the claim for the next process on this store.
        if await gateway.exitReason != .restart { await claim.release() }
        await gateway.updateNetwork(Self.name) { $0.state = .stopped }
        try? await http.shutdown()
        logger.info("Matrix adapter stopped")
    }
}
