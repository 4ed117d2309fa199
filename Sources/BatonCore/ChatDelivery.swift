import Logging

/// Delivers the stored events of a chat network's sessions to their rooms, each once and
/// in order, from a durable per-session position.
///
/// The store is the truth and the ``EventBus`` only a wake-up: on start every owned
/// session's events after its stored position are sent, then each published event sends
/// whatever its session has not had yet. A position is stored after its event was sent,
/// so a crash in between sends that event again, and the outbox's idempotency key makes
/// the repeat harmless. A read the store fails is tried again, with a growing pause. Ends
/// when the bus says goodbye or the task is cancelled; what is left is the next process's
/// to deliver.
public struct ChatDelivery<Outbox: ChatOutbox>: Sendable {
    let outbox: Outbox
    let store: any Store
    let writer: StoreWriter
    let bus: EventBus
    let logger: Logger
    /// Told the number of stored events not yet delivered, whenever it changes.
    let backlogChanged: @Sendable (Int) async -> Void

    public init(
        outbox: Outbox, store: any Store, writer: StoreWriter, bus: EventBus, logger: Logger,
        backlogChanged: @escaping @Sendable (Int) async -> Void
    ) {
        self.outbox = outbox
        self.store = store
        self.writer = writer
        self.bus = bus
        self.logger = logger
        self.backlogChanged = backlogChanged
    }

    /// Events read from the store at a time.
    static var pageSize: Int { 200 }

    public func run() async {
        // Subscribe first: nothing committed while the backlog is read goes unnoticed.
        let subscription = bus.subscribeToAll(sessionsStartingWith: outbox.sessionPrefix)
        defer { bus.unsubscribe(subscription) }
        guard var progress = await startingProgress() else { return }
        await deliverPending(&progress)
        for await item in subscription.items {
            guard case .event(let event) = item else { break }
            guard outbox.owns(session: event.session), progress.note(event) else { continue }
            await deliverPending(&progress)
            if Task.isCancelled { return }
        }
    }

    /// The stored positions and the newest events, read until the store answers; nil when
    /// cancelled first.
    private func startingProgress() async -> DeliveryProgress? {
        var backoff = RetryBackoff()
        while !Task.isCancelled {
            do {
                return DeliveryProgress(
                    delivered: try await store.deliveryPositions(network: outbox.network),
                    latest: try await store.lastEventIDs(sessionsStartingWith: outbox.sessionPrefix).filter { outbox.owns(session: $0.key) })
            } catch {
                let delay = backoff.failed()
                logger.error(
                    "Delivery positions could not be read; trying again", metadata: ["baton.error": "\(error)", "baton.retry_in": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { return nil }
            }
        }
        return nil
    }

    private func deliverPending(_ progress: inout DeliveryProgress) async {
        await backlogChanged(progress.backlog)
        var backoff = RetryBackoff()
        while let session = progress.nextPendingSession, !Task.isCancelled {
            do {
                let events = try await store.events(session: session, after: progress.delivered[session] ?? 0, limit: Self.pageSize)
                for event in events {
                    guard await deliver(event) else { return }
                    progress.delivered(session, through: event.id)
                    writer.enqueue([.markDelivered(network: outbox.network, session: session, eventID: event.id)])
                    await backlogChanged(progress.backlog)
                }
                if events.count < Self.pageSize {
                    progress.caughtUp(session)
                    await outbox.caughtUp(session: session)
                }
                backoff.succeeded()
            } catch {
                let delay = backoff.failed()
                logger.error(
                    "Events could not be read for delivery; trying again",
                    metadata: ["baton.session": "\(session)", "baton.error": "\(error)", "baton.retry_in": "\(delay)"])
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    /// Sends one event, retrying until it is sent or skipped; false when cancelled.
    private func deliver(_ event: SessionEvent) async -> Bool {
        var backoff = RetryBackoff()
        while !Task.isCancelled {
            do {
                try await outbox.deliver(event)
                return true
            } catch {
                switch error.disposition {
                case .skip:
                    logger.error(
                        "Event cannot be delivered; skipped",
                        metadata: ["baton.session": "\(event.session)", "baton.event": "\(event.id)", "baton.error": "\(error)"])
                    return true
                case .retry(let hint):
                    let delay = backoff.failed(hint: hint)
                    logger.warning(
                        "Delivery failed; retrying",
                        metadata: [
                            "baton.session": "\(event.session)", "baton.event": "\(event.id)", "baton.error": "\(error)",
                            "baton.retry_in": "\(delay)",
                        ])
                    do { try await Task.sleep(for: delay) } catch { return false }
                }
            }
        }
        return false
    }
}
