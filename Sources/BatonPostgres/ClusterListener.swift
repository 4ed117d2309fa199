import BatonCore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Hears what the other processes commit (`LISTEN baton`) and acts on it: their events go
/// to this process's open streams, their messages and released leases to the gateway,
/// which takes the session if it may. No polling: one connection waits for notifications,
/// and comes back with backoff when the database was away.
///
/// Notifications sent while it did not listen are lost, so each time LISTEN is in place it
/// catches up: for every session an open stream follows, it publishes what the store has
/// after the newest event the ``EventBus`` published. A read of a peer's events that fails
/// ends the listening the same way, so the catch-up after it reads them again.
public struct ClusterListener: Service {
    let client: PostgresClient
    let store: PostgresStore
    let bus: EventBus
    let gateway: Gateway
    let logger: Logger
    /// How often the listening connection is asked whether it is still there.
    let pingInterval: Duration

    public init(
        client: PostgresClient, store: PostgresStore, bus: EventBus, gateway: Gateway, logger: Logger, pingInterval: Duration = .seconds(10)
    ) {
        self.client = client
        self.store = store
        self.bus = bus
        self.gateway = gateway
        self.logger = logger
        self.pingInterval = pingInterval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Self.backoff
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: "baton") { notifications in
                            await gateway.storeReachable(true)
                            // Whatever was said while nobody listened: held sessions may have
                            // new messages (the beat reads them), open streams new events (the
                            // catch-up). LISTEN is in place: nothing committed from now on is missed.
                            await gateway.leaseBeat()
                            try await catchUp()
                            backoff = Self.backoff
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                group.addTask {
                                    for try await notification in notifications {
                                        try await handle(notification.payload)
                                    }
                                }
                                group.addTask { try await keepAsking(connection) }
                                try await group.next()
                                group.cancelAll()
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { return }
                    let delay = backoff.failed(hint: nil)
                    logger.warning(
                        "Cluster notifications interrupted; listening again", metadata: ["baton.error": "\(PostgresStoreError(error))", "baton.retry_in": "\(delay)"])
                    await gateway.storeReachable(false)
                    do { try await Task.sleep(for: delay) } catch { return }
                }
            }
        }
    }

    /// Asks the listening connection every ``pingInterval`` whether it is still there; throws
    /// (and closes it) when it does not answer within 5 s. A connection the network dropped
    /// without a word (a NAT's or a load balancer's idle timeout, a cable pulled) would
    /// otherwise wait for notifications for good, and this process would hear nothing of
    /// its peers: postgres-nio pings only the pool's idle connections, not one in use.
    private func keepAsking(_ connection: PostgresConnection) async throws {
        while true {
            try await Task.sleep(for: pingInterval)
            do {
                try await withDeadline(.seconds(5)) { [logger] in _ = try await connection.query("SELECT 1", logger: logger) }
            } catch {
                try? await connection.close()
                throw PostgresStoreError(message: "the listening connection stopped answering: \(PostgresStoreError(error))")
            }
        }
    }

    /// The database is usually back within seconds: retry soon, never more than 5 s apart.
    static var backoff: RetryBackoff { RetryBackoff(initial: .milliseconds(200), maximum: .seconds(5)) }

    /// Events read from the store at a time while catching up.
    static var pageSize: Int { 500 }

    /// Acts on one notification; throws when a peer's events could not be read, so that
    /// the listening starts again and its catch-up reads them.
    func handle(_ payload: String) async throws {
        guard let notification = ClusterNotification(payload: payload, skipping: store.instance) else { return }
        switch notification {
        case .events(let session, let first, let last):
            guard bus.isFollowed(session: session) else { return }
            do {
                bus.publish(try await store.events(session: session, after: first - 1, limit: Int(last - first + 1)))
            } catch {
                throw PostgresStoreError(message: "Events a peer stored in \(session) could not be read: \(PostgresStoreError(error))")
            }
        case .message(let session), .released(let session):
            await gateway.takeSession(session)
        }
    }

    /// Publishes, for every session an open stream follows, what the store has after the
    /// newest event the bus published for it, in order: one query for the sessions' newest
    /// events, then a read only where something is missing. A session that has had none
    /// published since its streams opened gets its newest event alone: each stream replayed
    /// the store when it opened, and fills any gap below it from there. The bus leaves out
    /// what it published already (a notification heard meanwhile, read here too).
    func catchUp() async throws {
        let following = bus.following
        guard !following.isEmpty else { return }
        do {
            let newest = try await store.newestEvents(sessions: following.sessions, sessionsStartingWith: following.prefixes)
            for event in newest.sorted(by: { $0.session < $1.session }) where bus.isFollowed(session: event.session) {
                guard var last = following.published[event.session] else {
                    bus.publish([event])
                    continue
                }
                while last < event.id {
                    let page = try await store.events(session: event.session, after: last, limit: Self.pageSize)
                    bus.publish(page)
                    guard let next = page.last?.id else { break }
                    last = next
                }
            }
        } catch {
            throw PostgresStoreError(message: "Events stored while not listening could not be read: \(PostgresStoreError(error))")
        }
    }
}
