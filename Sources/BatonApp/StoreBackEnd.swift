import BatonCore
import BatonPostgres
import Logging
import PostgresNIO
import ServiceLifecycle

/// The store `store.url` names, opened, with what goes with it: SQLite alone, or a
/// PostgreSQL client, its leases and its notification listener.
struct StoreBackEnd {
    let store: any Store
    /// What the gateway picks up at start; empty with PostgreSQL, whose sessions are
    /// taken under leases once running.
    let recovery: StoreRecovery
    private let postgres: (client: PostgresClient, store: PostgresStore, logger: Logger)?
    private let configuration: Configuration
    private let instance: String

    /// Opens SQLite (upgrading its layout, reported through `upgradeProgress`), or
    /// migrates PostgreSQL's schema (refusing one newer than this build, as a
    /// configuration error: exit 78) and makes its client.
    ///
    /// A database out of reach at the start (PostgreSQL restarting, the network not up
    /// yet) is waited for, `waiting` told why before each wait, rather than failing the
    /// start: under systemd each failed start is a restart at once, and twenty in a minute
    /// leave the unit failed for good. A refusal (a wrong password, say) fails at once.
    /// How long a database out of reach is waited for at the start, before the process
    /// exits 1 (and systemd, `Restart=on-failure`, starts it again).
    static let startWait: Duration = .seconds(300)

    static func open(
        _ configuration: Configuration, instance: String, logger: Logger,
        upgradeProgress: @escaping @Sendable (StoreUpgradeProgress) -> Void,
        waiting: @Sendable (String) -> Void = { _ in }
    ) async throws -> StoreBackEnd {
        guard configuration.store.isShared else {
            let sqlite = try SQLiteStore(directory: configuration.stateDirectory, upgradeProgress: upgradeProgress)
            if sqlite.upgraded { AllocatorTuning.returnFreeMemory() }
            return StoreBackEnd(
                store: sqlite, recovery: try sqlite.recovery(), postgres: nil, configuration: configuration, instance: instance)
        }
        let url: PostgresURL
        do {
            url = try PostgresURL(configuration.store.url)
        } catch {
            throw ConfigurationError(source: "configuration", key: "store.url", problem: error.description)
        }
        var backoff = RetryBackoff(initial: .milliseconds(500), maximum: .seconds(10))
        let giveUp = ContinuousClock.now + startWait
        while true {
            do {
                try await PostgresSchema.migrate(url, logger: logger)
                break
            } catch let error as PostgresSchema.TooNewError {
                throw ConfigurationError(source: PostgresURL.redact(configuration.store.url), key: "store.url", problem: error.description)
            } catch let error as PostgresStoreError where error.mayComeBack && ContinuousClock.now < giveUp {
                let delay = backoff.failed()
                logger.warning(
                    "PostgreSQL out of reach at the start; waiting for it",
                    metadata: ["baton.error": "\(error)", "baton.retry_in": "\(delay)"])
                waiting("Waiting for PostgreSQL: \(error)")
                try await Task.sleep(for: delay)
            }
        }
        var clientLogger = logger
        clientLogger.logLevel = max(logger.logLevel, .notice)
        let client = PostgresClient(configuration: url.configuration, backgroundLogger: clientLogger)
        let store = PostgresStore(client: client, instance: instance, logger: clientLogger)
        return StoreBackEnd(
            store: store, recovery: StoreRecovery(), postgres: (client, store, clientLogger), configuration: configuration, instance: instance)
    }

    /// The lease policy: no-op for SQLite.
    func leases(listen: String) -> any SessionLeases {
        guard let postgres else { return SingleProcessLeases() }
        return PostgresLeases(
            client: postgres.client, instance: instance, lease: configuration.store.lease, listen: listen, logger: postgres.logger)
    }

    /// Services to run before the store writer (the client: it stops last) and after it
    /// (the listener and the lease keeper: they stop before it).
    func services(
        gateway: Gateway, bus: EventBus, leaseInterval: Duration, logger: Logger
    ) -> (first: [ServiceGroupConfiguration.ServiceConfiguration], second: [ServiceGroupConfiguration.ServiceConfiguration]) {
        guard let postgres else { return ([], []) }
        return (
            [.init(service: postgres.client, serviceName: "postgres-client")],
            [
                .init(
                    service: ClusterListener(client: postgres.client, store: postgres.store, bus: bus, gateway: gateway, logger: logger),
                    serviceName: "cluster-listener"),
                .init(service: LeaseKeeper(gateway: gateway, interval: leaseInterval), serviceName: "lease-keeper"),
            ]
        )
    }
}
