import BatonCore
import BenchSupport
import Foundation
import Logging

// The gateway alone: `Gateway.accept` called by --clients concurrent callers (as HTTP
// handlers call it) for --messages new messages, each answered by the demo agent
// (delay 0), over a store that keeps nothing (`DiscardingStore`) and whose commits take
// --commit-us microseconds, as a synced commit does. No HTTP, no SQLite: what accepting,
// scheduling, running a turn, its reply and its end cost the gateway, in CPU time per
// message. Sessions never repeat while a message is in flight, as under bench/post.lua.
//
//     gateway-bench [--messages N] [--clients N] [--commit-us N]
//
// Prints one JSON object.

let options = BenchOptions(tool: "gateway-bench", numbers: ["--messages": 100_000, "--clients": 64, "--commit-us": 500])
let (total, clients, commitMicroseconds) = (options[number: "--messages"], options[number: "--clients"], options[number: "--commit-us"])

var configuration = Configuration()
configuration.agent.delay = 0
configuration.limits.maxQueuePerSession = 1_000_000
let logger = Logger(label: "gateway-bench", factory: { _ in SwiftLogNoOpLogHandler() })
let store = DiscardingStore(commitTime: .microseconds(commitMicroseconds))
let bus = EventBus()
let writer = StoreWriter(store: store, bus: bus, logger: logger)
let gateway = Gateway(
    configuration: configuration, store: store, recovery: StoreRecovery(), writer: writer, bus: bus,
    agent: DemoAgent(delay: .zero), supervisor: nil, logger: logger)
let writing = Task { try await writer.run() }
let running = Task { try await gateway.run() }
await gateway.listenerStarted()

let cpuBefore = processCPUSeconds()
let clock = ContinuousClock()
let started = clock.now
let refused = await withTaskGroup(of: Int.self) { group in
    for client in 0..<clients {
        group.addTask {
            var refused = 0
            for n in stride(from: client, to: total, by: clients) {
                let message = IncomingMessage(id: nil, session: "s\(n)", user: "bench", text: "message \(n)")
                do {
                    guard case .acknowledged = try await gateway.accept(message) else { refused += 1; continue }
                } catch {
                    refused += 1
                }
            }
            return refused
        }
    }
    var refused = 0
    for await count in group { refused += count }
    return refused
}
// Every turn ended, and its writes committed.
while true {
    let status = await gateway.status()
    if status.inFlight + status.queued == 0 { break }
    try await Task.sleep(for: .milliseconds(1))
}
try await writer.write([])
let cpu = processCPUSeconds() - cpuBefore
let elapsed = (clock.now - started).components
let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
let counts = store.counts
running.cancel()
writing.cancel()

let result: [String: Any] = [
    "messages": total, "clients": clients, "commit_us": commitMicroseconds, "commits": counts.commits,
    "seconds": (seconds * 1000).rounded() / 1000,
    "messages_per_s": (Double(total) / seconds).rounded(),
    "cpu_us_per_message": (cpu * 1e6 / Double(total) * 10).rounded() / 10,
    "refused": refused,
    "all_answered": refused == 0 && counts.messages == total && counts.replies == total && counts.done == total,
]
print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
