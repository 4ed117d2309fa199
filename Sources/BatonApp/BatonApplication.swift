import BatonCore
import BatonHTTP
import BatonMatrix
import BatonPostgres
import BatonSystemd
import Foundation
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// A whole Baton gateway, ready to run: store, gateway, HTTP and control listeners,
/// signals and systemd, in one ``ServiceGroup``.
public struct BatonApplication: Sendable {
    public let configuration: Configuration
    public let gateway: Gateway
    public let store: any Store
    /// The chat API's (first) socket; its ``ListeningSocket/port`` is the real one when `listen` asked for 0.
    public let httpSocket: ListeningSocket
    public let controlSocketPath: String
    /// This application's metrics, served at `GET /metrics`.
    public let metrics: PrometheusCollectorRegistry
    let serviceGroup: ServiceGroup

    /// How long systemd waits for the next word from a store upgrade at start, in seconds:
    /// its slowest step (indexing every event) takes seconds per million events.
    static let storeUpgradeTimeout: Double = 120
    /// How long systemd is told to wait for the start each time PostgreSQL, out of reach,
    /// is waited for: beyond the longest wait between tries.
    static let storeWaitTimeout: Double = 30

    /// Runs until a drain finishes; returns the status the process should exit with.
    public func run() async throws -> ExitStatus {
        try await serviceGroup.run()
        switch await gateway.exitReason {
        case .restart: return .restart
        case .stop: return .stopped
        case nil: return .failure
        }
    }
}

/// Builds the application `main` and the tests run.
///
/// Opens the store and recovers what the last process left, takes the listening socket
/// from systemd (or binds it) and stores it back with systemd for the next process.
/// `agent` replaces the one `agent.kind` names (tests use it to control turns).
public func buildApplication(
    configuration: Configuration,
    environment: [String: String] = ProcessInfo.processInfo.environment,
    logger: Logger,
    agent: (any Agent)? = nil,
    configurationPath: String?? = nil
) async throws -> BatonApplication {
    // Signals are trapped before any service starts, beside the rest of the start (their
    // registration waits on libdispatch): a signal that comes once the process is ready
    // is a drain, whenever it comes.
    // Not while PostgreSQL is waited for, though: a SIGTERM then ends the process as by
    // default (nothing is stored yet), rather than be held by a trap nobody reads yet.
    let notifier = SystemdNotifier(environment: environment)
    let trapped: Task<UnixSignalsSequence, Never>? = configuration.store.isShared ? nil : Task { await SignalRouter.trap() }
    let agentBackEnd = try AgentFactory.make(configuration, logger: logger)
    let instance = Gateway.makeInstanceID()
    try PrivateStateDirectory.prepare(configuration.stateDirectory, logger: logger)
    let bus = EventBus()
    let backEnd = try await StoreBackEnd.open(configuration, instance: instance, logger: logger) { progress in
        // The first start after an upgrade may rewrite a large store: systemd hears how
        // far it got, and waits for it rather than take the start for hung.
        logger.notice("Store upgrade", metadata: ["baton.step": "\(progress.step)", "baton.done": "\(progress.done)", "baton.total": "\(progress.total)"])
        notifier.extendTimeout(seconds: BatonApplication.storeUpgradeTimeout, status: progress.description)
    } waiting: { why in
        // systemd waits with it, rather than take the start for hung.
        notifier.extendTimeout(seconds: BatonApplication.storeWaitTimeout, status: why)
    }
    let store = backEnd.store
    let writer = StoreWriter(store: store, bus: bus, logger: logger)
    let http = try HTTPSockets.open(passed: ListenDescriptors.take(), configuration: configuration, logger: logger)
    for socket in http.sockets {
        try APIAccess.check(configuration, socket: socket, logger: logger)
    }
    // systemd keeps a copy: the next process takes these very sockets, so no connection
    // is refused while no process is accepting.
    for socket in http.sockets where notifier.storeDescriptor(socket.descriptor, name: "http") {
        logger.debug("Listening socket stored with systemd", metadata: ["baton.socket": "\(socket.localAddress?.description ?? "\(socket.descriptor)")"])
    }

    // A registry of its own rather than the process-wide MetricsSystem: /metrics shows
    // this gateway alone. Drains run up to drain.timeout, so their buckets reach minutes.
    let metrics = PrometheusCollectorRegistry()
    var metricsFactory = PrometheusMetricsFactory(registry: metrics)
    metricsFactory.durationHistogramBuckets[GatewayMetrics.drainDurationLabel] = [
        .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
    ]
    let listenAddress = http.primary.localAddress?.description ?? configuration.listen.description
    // Before a restart, the configuration is checked as the next process will read it,
    // on this very socket (``NextStartCheck``). Only for `baton serve`:
    // `configurationPath` is nil in tests that build the application in-process.
    let nextStartProblem: (@Sendable () async -> String?)? = configurationPath.map { path in
        let check = NextStartCheck(
            configurationPath: path, environment: environment, listen: http.mostExposed.localAddress ?? configuration.listen,
            origin: http.origin)
        return { await check.problem() }
    }
    let gateway = Gateway(
        configuration: configuration, store: store, recovery: backEnd.recovery, writer: writer, bus: bus, agent: agent ?? agentBackEnd.agent,
        leases: backEnd.leases(listen: listenAddress),
        supervisor: notifier.isSupervised ? "systemd" : nil, logger: logger, metricsFactory: metricsFactory, instance: instance,
        nextStartProblem: nextStartProblem)
    var logger = logger
    logger[metadataKey: "baton.instance"] = "\(gateway.instance)"
    let (clusterFirst, clusterSecond) = backEnd.services(
        gateway: gateway, bus: bus, leaseInterval: .seconds(configuration.store.lease / 3), logger: logger)

    try FileManager.default.createDirectory(
        atPath: configuration.runtimeDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    let controlSocketPath = (configuration.runtimeDirectory as NSString).appendingPathComponent("control.sock")
    let controlSocket = try ListeningSocket.unix(path: controlSocketPath, mode: 0o600)

    let connections = ConnectionRegistry.make(configuration: configuration, logger: logger, metricsFactory: metricsFactory)
    let chat = APIRouter.chat(gateway: gateway, store: store, bus: bus, metrics: metrics)
    // Ready once every socket is served.
    let starting = Mutex(http.sockets.count)
    let httpListeners = http.sockets.enumerated().map { index, socket in
        let name = index == 0 ? "http" : "http-\(index + 1)"
        let listener = HTTPListener(
            name: name, socket: socket, router: chat.router,
            logger: logger, connections: connections, messages: chat.messages,
            onStarted: {
                let left = starting.withLock { left in
                    left -= 1
                    return left
                }
                if left == 0 { await gateway.listenerStarted() }
            })
        return ServiceGroupConfiguration.ServiceConfiguration(service: listener, serviceName: "\(name)-listener")
    }
    // Only this user (and root) may steer the gateway, whatever the socket's mode.
    let ownUID = getuid()
    let control = HTTPListener(
        name: "control", socket: controlSocket, router: APIRouter.control(gateway: gateway), logger: logger,
        admitPeer: { $0.uid == ownUID || $0.uid == 0 }, lastRequestGrace: .zero)
    let supervisor = SystemdSupervisor(
        notifier: notifier, gateway: gateway, stopMargin: configuration.drain.interruptGrace + UnitFile.shutdownMargin, logger: logger)

    // Chat networks shut down just before the writer, so their last delivered positions
    // are committed.
    let networks: [ServiceGroupConfiguration.ServiceConfiguration] = configuration.matrix.map { matrix in
        [
            .init(
                service: MatrixNetwork(
                    configuration: matrix, gateway: gateway, store: store, writer: writer, bus: bus, metricsFactory: metricsFactory,
                    logger: logger),
                successTerminationBehavior: .ignore, serviceName: "matrix")
        ]
    } ?? []

    // Each service is named: without a name, ServiceGroup describes the service's value,
    // reflecting on all of it, which cost a tenth of the start's CPU time.
    // Graceful shutdown runs from the last service to the first: the gateway has already
    // finished, then listeners close, then the writer commits what is left.
    // With PostgreSQL its client starts first and stops last; the listener and the lease
    // keeper stop before the writer.
    // The signal router and systemd's notifications start first and stop last: a SIGTERM
    // that comes after a restart drain finished, while chat networks flush and the writer
    // commits, still makes the process exit 0; the watchdog is fed to the very end.
    let signals = await (trapped ?? Task { await SignalRouter.trap() }).value
    var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
        .init(service: SignalRouter(gateway: gateway, signals: signals), serviceName: "signal-router"),
        .init(service: supervisor, successTerminationBehavior: .ignore, serviceName: "systemd-supervisor"),
    ]
    services += clusterFirst
    services.append(.init(service: writer, serviceName: "store-writer"))
    // Prunes in transactions of its own, beside the writer; stops before it.
    if let retention = configuration.store.retentionPeriod {
        let pruner = HistoryPruner(store: store, retention: retention, logger: logger, metricsFactory: metricsFactory)
        services.append(.init(service: pruner, serviceName: "history-pruner"))
    }
    services += networks
    services += clusterSecond
    var groupConfiguration = ServiceGroupConfiguration(
        services: services + [
            .init(service: control, serviceName: "control-listener"),
        ] + httpListeners + [
            .init(
                service: agentBackEnd.monitor(gateway: gateway, logger: logger), successTerminationBehavior: .ignore,
                serviceName: "agent-monitor"),
            .init(service: gateway, successTerminationBehavior: .gracefullyShutdownGroup, serviceName: "gateway"),
        ],
        logger: logger)
    groupConfiguration.maximumGracefulShutdownDuration = .seconds(10)
    groupConfiguration.maximumCancellationDuration = .seconds(5)
    return BatonApplication(
        configuration: configuration, gateway: gateway, store: store, httpSocket: http.primary,
        controlSocketPath: controlSocketPath, metrics: metrics, serviceGroup: ServiceGroup(configuration: groupConfiguration))
}
