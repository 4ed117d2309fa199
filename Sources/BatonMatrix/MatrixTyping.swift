import BatonCore
import Logging
import Synchronization

/// Shows the bot typing in a room while its session has a turn to run.
///
/// Typing is best effort: a failed request changes nothing but the indicator.
final class MatrixTyping: Sendable {
    /// How long one "typing" lasts at the homeserver unless renewed.
    static let lease = Duration.seconds(30)
    /// How often busy rooms renew it.
    static let renewal = Duration.seconds(20)

    private let client: MatrixClient
    private let gateway: Gateway
    private let logger: Logger
    private let rooms = Mutex<Set<String>>([])

    init(client: MatrixClient, gateway: Gateway, logger: Logger) {
        self.client = client
        self.gateway = gateway
        self.logger = logger
    }

    /// A message of `room` was accepted: its turn is starting or waiting (a message read
    /// again whose turn is long over shows nothing).
    func started(in room: String) async {
        guard await gateway.hasWork(in: room) else { return }
        rooms.withLock { _ = $0.insert(room) }
        await set(true, in: room)
    }

    /// Everything stored for `room` was delivered: stop typing if no turn is left.
    func caughtUp(in room: String) async {
        guard rooms.withLock({ $0.contains(room) }), await gateway.sessionStatus(room).state == .idle else { return }
        rooms.withLock { _ = $0.remove(room) }
        await set(false, in: room)
    }

    /// Renews the indicator in every room whose session is still busy, until cancelled.
    func renewWhileBusy() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: Self.renewal) } catch { return }
            for room in rooms.withLock({ $0 }).sorted() {
                let busy = await gateway.sessionStatus(room).state == .busy
                if !busy { rooms.withLock { _ = $0.remove(room) } }
                await set(busy, in: room)
            }
        }
    }

    private func set(_ typing: Bool, in room: String) async {
        do {
            try await client.setTyping(typing, in: room, timeout: Self.lease)
        } catch {
            logger.debug("Typing indicator not sent", metadata: ["baton.room": "\(room)", "baton.error": "\(error)"])
        }
    }
}
