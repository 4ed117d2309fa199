import BatonCore
import BenchSupport
import Foundation

// The SQLite store alone, as the gateway drives it under load: every commit holds a batch
// of new messages (each with its turn's "running", queued before it as the gateway queues
// it) and the previous batch's turns' ends (a reply and "done"). No HTTP, no turns, no
// thread hand-offs: what storing a message and its answer costs, in CPU time per message.
//
//     store-bench [--messages N] [--sessions N] [--batch N] [--directory PATH]
//
// Prints one JSON object.

let options = BenchOptions(
    tool: "store-bench", numbers: ["--messages": 100_000, "--sessions": 1000, "--batch": 32], strings: ["--directory"])
let (total, sessions, batch) = (options[number: "--messages"], options[number: "--sessions"], options[number: "--batch"])
let directory = options.strings["--directory"]
let folder = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("store-bench-\(UUID().uuidString)").path
let store = try SQLiteStore(directory: folder)

/// The groups of one commit: `count` new messages from `first` on, and the turn ends of
/// the batch before.
func groups(first: Int, count: Int, ending previous: [Message]) -> [[StoreWrite]] {
    var groups: [[StoreWrite]] = []
    for message in previous {
        let reply = SessionEvent(
            session: message.session, id: 0, kind: .reply,
            data: #"{"id":"\#(message.id).1","in_reply_to":"\#(message.id)","text":"Demo agent heard bench: \#(message.text)"}"#)
        groups.append([.appendReply(reply, message: message.id, ordinal: 1)])
        groups.append([.setState(id: message.id, state: .done)])
    }
    for sequence in first..<first + count {
        // Ordered, as the gateway's own ids (UUID version 7) are.
        let id = "message-\(1_000_000_000 + sequence)"
        let session = "s\(sequence % sessions)"
        groups.append([.setState(id: id, state: .running)])
        groups.append([
            .insertMessage(
                Message(
                    id: id, sequence: Int64(sequence), session: session, user: "bench", text: "message \(sequence)", state: .queued,
                    acknowledgement: Acknowledgement(id: id, session: session, status: .accepted, position: 0), acceptedAt: Date()))
        ])
    }
    return groups
}

var previous: [Message] = []
var commits = 0
let clock = ContinuousClock()
let pagesBefore = try store.pagesWritten()
let cpuBefore = processCPUSeconds()
let started = clock.now
var next = 1
while next <= total || !previous.isEmpty {
    let count = min(batch, total - next + 1)
    let commit = groups(first: next, count: count, ending: previous)
    for result in try await store.commit(commit) { _ = try result.get() }
    commits += 1
    previous = commit.compactMap { group in
        if case .insertMessage(let message) = group.first { return message }
        return nil
    }
    next += count
}
let elapsed = (clock.now - started).components
let cpu = processCPUSeconds() - cpuBefore
let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
let pages = try store.pagesWritten() - pagesBefore
let answered = try store.pendingMessages().isEmpty
let size = (try? FileManager.default.attributesOfItem(atPath: store.path)[.size] as? Int) ?? 0
if directory == nil { try? FileManager.default.removeItem(atPath: folder) }
let result: [String: Any] = [
    "messages": total, "sessions": sessions, "batch": batch, "commits": commits,
    "seconds": (seconds * 1000).rounded() / 1000,
    "messages_per_s": (Double(total) / seconds).rounded(),
    "cpu_us_per_message": (cpu * 1e6 / Double(total) * 10).rounded() / 10,
    "all_answered": answered,
    "pages_per_commit": (Double(pages) / Double(commits) * 10).rounded() / 10,
    "file_mib": (Double(size) / 1_048_576 * 10).rounded() / 10,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
