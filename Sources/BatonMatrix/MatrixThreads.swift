import Synchronization

/// Which thread each message Baton answers was written in, so that its reply and notices
/// go into that thread rather than the room's main timeline.
///
/// Messages read by this process's sync are remembered (the most recent ``capacity``);
/// a message it did not read (answered after a restart, or forgotten) is looked up on the
/// homeserver once and remembered too.
final class MatrixThreads: Sendable {
    /// How many messages are remembered; older ones are looked up again if answered.
    static let capacity = 8192

    private struct Memory {
        /// The thread root by message event id; `.some(nil)` for a message in no thread.
        var roots: [String: String?] = [:]
        /// The messages in the order they were remembered, to forget the oldest.
        var order: [String] = []
        var oldest = 0
    }

    private let memory = Mutex(Memory())
    private let client: MatrixClient

    init(client: MatrixClient) {
        self.client = client
    }

    /// Remembers that `message` was written in the thread of `root` (nil: in no thread).
    func record(_ message: String, root: String?) {
        memory.withLock { memory in
            if memory.roots.updateValue(root, forKey: message) == nil { memory.order.append(message) }
            if memory.order.count - memory.oldest > Self.capacity {
                memory.roots[memory.order[memory.oldest]] = nil
                memory.oldest += 1
                if memory.oldest > Self.capacity {
                    memory.order.removeFirst(memory.oldest)
                    memory.oldest = 0
                }
            }
        }
    }

    /// The root of the thread `message` of `room` was written in, or nil for the main
    /// timeline. A message the homeserver will not show (redacted away, out of reach for
    /// the bot, a proxy refusing the lookup) is answered in the main timeline: the thread
    /// only places the answer, and never holds it up. Only a homeserver out of reach (or
    /// asking to slow down) is thrown, to try again.
    func root(of message: String, in room: String) async throws(MatrixError) -> String? {
        if let known = memory.withLock({ $0.roots[message] }) { return known }
        let root: String?
        do {
            root = try await client.event(message, in: room).threadRoot
        } catch where error.isRefusal || error.kind == .malformed {
            root = nil
        }
        record(message, root: root)
        return root
    }
}
