import BatonTestSupport
import Foundation
import Glibc
import Synchronization
import Testing

/// The real `baton serve` under a flood of idle and slow connections: a broken client
/// pool, a scanner, a slowloris.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct ConnectionLimitTests {
    static let slowRequestStart = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty"

    @Test func idleAndSlowConnectionsDoNotShutOutAGoodClient() async throws {
        let idleCount = 3000, slowCount = 200
        // The test holds every connection's other end.
        #expect(TestDescriptorLimit.raise(to: 2 * (idleCount + slowCount)) >= idleCount + slowCount + 100)
        try await withBatonFixture({ $0.requestTimeout = 2; $0.idleTimeout = 10 }) { baton in
            // Started with 1024 descriptors of at most 2048: Baton raises the soft limit to
            // 2048 and keeps 2048 - 64 - 4 × 64 (agent.max_concurrent_turns) for connections.
            let server = try await baton.startServer(launcher: ["/usr/bin/prlimit", "--nofile=1024:2048", "--"])
            #expect(baton.serverLogs.contains("Descriptor limit 2048 (raised from 1024); at most 1728 connections"), "\(baton.serverLogs)")
            let before = try await baton.client.metrics()
            for reason in ["idle", "slow", "evicted", "refused"] {
                #expect(before["baton_connections_closed_total{reason=\"\(reason)\"}"] == 0, "\(before)")
            }
            #expect(before["baton_connections_max"] == 1728)

            let port = baton.configuration.port
            let idle = try await HeldConnections.open(count: idleCount, port: port)
            let slow = try await HeldConnections.open(count: slowCount, port: port, sending: Self.slowRequestStart)
            // More connections than descriptors: the longest idle ones made room.
            let good = try await withTimeout(.seconds(30), waitingFor: "a 202 for a good client among \(idleCount + slowCount) others") {
                try await baton.client.send(session: "good", text: "through the flood")
            }
            #expect(good.acknowledgement.status == "accepted")
            let answered = try await baton.client.status()
            #expect(answered.pid == server.pid && answered.state == "ready")

            // The slow ones are closed at their request deadline; the idle ones that did not
            // make room, at their idle deadline.
            let settled = try await eventually("every held connection closed", timeout: .seconds(60), interval: .milliseconds(250)) {
                idle.closedCount() == idleCount && slow.closedCount() == slowCount ? true : nil
            }
            #expect(settled)
            let after = try await baton.client.metrics()
            let closed = { (reason: String) in after["baton_connections_closed_total{reason=\"\(reason)\"}"] ?? -1 }
            #expect(closed("slow") == Double(slowCount), "\(after)")
            #expect(closed("evicted") >= Double(idleCount + slowCount - 1728), "\(after)")
            #expect(closed("evicted") + closed("idle") == Double(idleCount), "every idle connection made room or timed out: \(after)")
            #expect(closed("refused") == 0, "\(after)")
            #expect((after["baton_connections_open"] ?? 99) <= 2, "\(after)")
            #expect((after["baton_connections_accepted_total"] ?? 0) >= Double(idleCount + slowCount + 2))

            // Still the same process, serving, and it never ran out of descriptors.
            let later = try await baton.client.send(session: "good", text: "after the flood")
            #expect(later.instance == good.instance)
            #expect(!baton.serverLogs.contains("Too many open files"), "\(baton.serverLogs)")
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0))
            idle.closeAll()
            slow.closeAll()
        }
    }

    /// A keep-alive connection that was answered and then says nothing is closed for
    /// idleness at `idle_timeout` after its response, not at the shorter request deadline
    /// its request once had.
    @Test("A connection whose request asked to close is closed after its answer, though another request follows it")
    func aRequestThatAskedToCloseEndsItsConnection() async throws {
        try await withBatonFixture({ $0.requestTimeout = 1; $0.idleTimeout = 2 }) { baton in
            _ = try await baton.startServer()
            let requests = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            let held = try await HeldConnections.open(count: 1, port: baton.configuration.port, sending: requests)
            let received = Mutex("")
            let closed = try await eventually("the connection closed", timeout: .seconds(20), interval: .milliseconds(50)) {
                let more = held.readReceived()
                received.withLock { $0 += more }
                return held.closedCount() == 1 ? true : nil
            }
            #expect(closed)
            let answers = received.withLock { $0 + held.readReceived() }
            #expect(answers.components(separatedBy: "HTTP/1.1 200").count - 1 == 1, "one answer, then the close: \(answers)")
        }
    }

    @Test func anAnsweredKeepAliveConnectionIsClosedAtItsIdleDeadline() async throws {
        try await withBatonFixture({ $0.requestTimeout = 1; $0.idleTimeout = 5 }) { baton in
            let server = try await baton.startServer()
            let body = #"{"session":"keep-alive","user":"u","text":"hello"}"#
            let request = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let held = try await HeldConnections.open(count: 1, port: baton.configuration.port, sending: request)
            let response = try await eventually("the request answered", timeout: .seconds(20), interval: .milliseconds(50)) {
                let received = held.readReceived()
                return received.isEmpty ? nil : received
            }
            #expect(response.hasPrefix("HTTP/1.1 202"), "\(response)")
            // Twice the request deadline later, the idle deadline is still ahead.
            try await Task.sleep(for: .seconds(2))
            _ = held.readReceived()
            #expect(held.closedCount() == 0, "closed at the request deadline, not the idle one")
            let closed = try await eventually("the idle connection closed", timeout: .seconds(30), interval: .milliseconds(250)) {
                _ = held.readReceived()
                return held.closedCount() == 1 ? true : nil
            }
            #expect(closed)
            let metrics = try await baton.client.metrics()
            #expect(metrics["baton_connections_closed_total{reason=\"idle\"}"] == 1, "\(metrics)")
            #expect(metrics["baton_connections_closed_total{reason=\"slow\"}"] == 0, "\(metrics)")
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0))
        }
    }
}
