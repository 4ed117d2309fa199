import BatonCore
import Logging
import PostgresNIO
import ServiceLifecycle

/// Hears what the other processes commit (`LISTEN baton`) and acts on it: their events go
/// to this process's open streams, their messages and released leases to the gateway,
/// which takes the session if it may. No polling: one connection waits for notifications,
/// and comes back with backoff when the database was away.
public struct ClusterListener: Service {
    let client: PostgresClient
    let store: PostgresStore
    let bus: EventBus
    let gateway: Gateway
    let logger: Logger

    public init(client: PostgresClient, store: PostgresStore, bus: EventBus, gateway: Gateway, logger: Logger) {
        self.client = client
        self.store = store
        self.bus = bus
        self.gateway = gateway
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Self.backoff
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: "baton") { notifications in
                            backoff = Self.backoff
                            await gateway.storeReachable(true)
                            // Whatever was said while nobody listened: held sessions may have
                            // new messages, open streams new events.
                            await gateway.leaseBeat()
                            for try await notification in notifications {
                                await handle(notification.payload)
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

    /// The database is usually back within seconds: retry soon, never more than 5 s apart.
    static var backoff: RetryBackoff { RetryBackoff(initial: .milliseconds(200), maximum: .seconds(5)) }

    func handle(_ payload: String) async {
        guard let notification = ClusterNotification(payload: payload, skipping: store.instance) else { return }
        switch notification {
        case .events(let session, let first, let last):
            guard bus.isFollowed(session: session) else { return }
            do {
                let events = try await store.events(session: session, after: first - 1, limit: Int(last - first + 1))
                bus.publish(events)
            } catch {
                logger.warning("Events of a peer could not be read", metadata: ["baton.session": "\(session)", "baton.error": "\(PostgresStoreError(error))"])
            }
        case .message(let session), .released(let session):
            await gateway.takeSession(session)
        }
    }
}
