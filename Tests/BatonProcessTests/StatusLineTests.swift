import BatonTestSupport
import Testing

/// The status line systemd shows for the real `baton serve` (`STATUS=`).
@Suite struct StatusLineTests {
    /// Under load the counts change with every message; systemd gets at most about one
    /// line a second of them, and the line it keeps is the current one.
    @Test func aBurstOfMessagesSendsAFewStatusLinesAndTheLastIsCurrent() async throws {
        try await withBatonFixture({ $0.agentDelay = 0 }) { baton in
            let server = try await baton.startServer()
            try await withEventFollowers(baton.client, sessions: ["burst"]) { logs in
                try await logs["burst"]!.waitUntilOpen()
                let readyLines = { server.notifications.received.compactMap { $0["STATUS"] }.filter { $0.hasPrefix("Ready") } }
                let linesBefore = readyLines().count
                let started = ContinuousClock.now
                var sent: [SentMessage] = []
                for number in 1...60 {
                    sent.append(try await baton.client.send(session: "burst", text: "message \(number)"))
                }
                _ = try await logs["burst"]!.waitForReplies(to: sent)
                let seconds = (ContinuousClock.now - started).components.seconds

                // 60 messages change the counts about 180 times; one line per change would
                // be that many datagrams.
                let linesDuringBurst = readyLines().count - linesBefore
                #expect(linesDuringBurst <= Int(seconds) + 3, "\(readyLines())")

                // The line held back is sent within a second: the last one says all is done.
                let deadline = ContinuousClock.now + .seconds(10)
                while readyLines().last?.contains("0 in flight, 0 queued") != true || readyLines().count == linesBefore {
                    guard ContinuousClock.now < deadline else { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                #expect(readyLines().last?.contains("0 in flight, 0 queued") == true, "\(readyLines())")
            }
        }
    }
}
