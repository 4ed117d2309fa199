import BatonCore
import Synchronization

/// Rooms Baton means to be in whose join failed for a while (the room's homeserver out of
/// reach, a federated join that took too long): tried again in the background, each with
/// a backoff of its own, so one far room never holds up the sync of the others.
final class MatrixPendingJoins: Sendable {
    private struct Pending {
        var backoff = RetryBackoff(initial: .seconds(5), maximum: .seconds(300))
        var due: ContinuousClock.Instant
    }

    private let rooms = Mutex<[String: Pending]>([:])

    /// Records a failed join of `room` (an id or an alias); it is due again after a pause.
    func failed(_ room: String, hint: Duration? = nil) {
        rooms.withLock { rooms in
            var pending = rooms[room] ?? Pending(due: .now)
            pending.due = .now + pending.backoff.failed(hint: hint)
            rooms[room] = pending
        }
    }

    /// The room joined, or refused for good: no more tries.
    func done(_ room: String) {
        _ = rooms.withLock { $0.removeValue(forKey: room) }
    }

    /// The rooms whose next try is due.
    func due() -> [String] {
        let now = ContinuousClock.now
        return rooms.withLock { rooms in rooms.filter { $0.value.due <= now }.keys.sorted() }
    }
}
