import AsyncHTTPClient
@testable import BatonCore
import BatonTestSupport
import NIOCore
import Testing

@Suite struct EventStreamTests {
    @Test func aStreamResumesAfterLastEventIDOrAfterWithNothingTwice() async throws {
        try await InProcessBaton().run { _, client in
            for text in ["a", "b", "c"] { _ = try await client.send(session: "s", text: text) }
            let all = try await client.events(session: "s") { $0.filter(\.isReply).count == 3 }
            let ids = all.compactMap(\.id)
            #expect(ids == Array(1...Int64(ids.count)))

            let resumed = try await client.events(session: "s", after: 1) { $0.count == ids.count - 1 }
            #expect(resumed.compactMap(\.id) == Array(ids.dropFirst()))

            let viaQuery = try await Self.firstEvent(port: client.port, path: "/v1/sessions/s/events?after=2")
            #expect(viaQuery.id == 3)
        }
    }

    @Test("A stream whose client goes away ends then, not at its session's next event: its subscription and connection are let go")
    func aStreamEndsWhenItsClientGoesAway() async throws {
        try await InProcessBaton().run { app, client in
            let before = try await client.metrics()["baton_connections_open"] ?? 0
            for path in ["/v1/sessions/idle/events", "/v1/status/events"] {
                let connection = try await KeptAliveConnection.open(port: client.port)
                try await withTimeout(.seconds(10), waitingFor: "\(path) to start") {
                    try await connection.use { reader in
                        try await reader.outbound.write(ByteBuffer(string: KeptAliveConnection.getRequest(path)))
                        var received = ""
                        while !received.contains("retry: 1000"), let chunk = try await reader.inbound.next() {
                            received += String(buffer: chunk)
                        }
                    }
                }
            }
            // Both connections are closed by now; the server hears it and lets them go.
            _ = try await eventually("the streams to end", timeout: .seconds(10)) {
                let open = try await client.metrics()["baton_connections_open"] ?? 0
                return app.gateway.bus.subscriberCount == 0 && open <= before ? true : nil
            }
        }
    }

    @Test("An idle stream gets a comment every 15 s: a client that vanished is noticed, a proxy's idle timeout leaves it open")
    func anIdleStreamGetsKeepAliveComments() async throws {
        try await InProcessBaton().run { _, client in
            let port = client.port
            try await withThrowingTaskGroup(of: Void.self) { group in
                for path in ["/v1/sessions/idle/events", "/v1/status/events"] {
                    group.addTask {
                        let connection = try await KeptAliveConnection.open(port: port)
                        try await withTimeout(.seconds(40), waitingFor: "a keep-alive comment on \(path)") {
                            try await connection.use { reader in
                                try await reader.outbound.write(ByteBuffer(string: KeptAliveConnection.getRequest(path)))
                                var received = ""
                                while !received.contains("\n: keep-alive\n\n"), let chunk = try await reader.inbound.next() {
                                    received += String(buffer: chunk)
                                }
                                #expect(received.contains("\n: keep-alive\n\n"), "\(path): \(received)")
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("A reply over 16 KiB reaches a live stream whole, in its place: streams are woken for it and read it from the store")
    func aLargeReplyReachesTheStreamWhole() async throws {
        try await InProcessBaton().run { _, client in
            let long = String(repeating: "0123456789abcdef", count: 2048)
            let events = try await withEventFollowers(client, sessions: ["big"]) { logs in
                // Open before anything is sent: the replies come live, not from the replay.
                try await logs["big"]!.waitUntilOpen()
                let sent = [
                    try await client.send(session: "big", text: "first"), try await client.send(session: "big", text: long),
                    try await client.send(session: "big", text: "after"),
                ]
                return try await logs["big"]!.waitForReplies(to: sent)
            }
            let replies = events.filter(\.isReply)
            let (small, large, after) = (replies[0].payload?.inReplyTo, replies[1].payload?.inReplyTo, replies[2].payload?.inReplyTo)
            #expect(replies.count == 3 && small != large && large != after)
            #expect(replies[1].payload?.text == "Demo agent heard bob: \(long)")
            #expect(replies[0].payload?.text == "Demo agent heard bob: first" && replies[2].payload?.text == "Demo agent heard bob: after")
            #expect(events.compactMap(\.id) == Array(1...Int64(events.count)), "each event once, in order")
        }
    }

    @Test func aBadResumePointIsRefused() async throws {
        try await InProcessBaton().run { _, client in
            let response = try await client.request("GET", "/v1/sessions/s/events", headers: [("Last-Event-ID", "yesterday")])
            #expect(response.status == 400)
            #expect(response.errorMessage?.contains("Last-Event-ID") == true)
        }
    }

    @Test func theSessionEndpointReportsTheLastEventID() async throws {
        try await InProcessBaton().run { _, client in
            let fresh = try await client.request("GET", "/v1/sessions/new")
            #expect(fresh.json["state"] as? String == "idle" && fresh.json["last_event_id"] as? Int == 0)
            _ = try await client.send(session: "s", text: "hi")
            let events = try await client.events(session: "s") { $0.contains(where: \.isReply) }
            let session = try await client.request("GET", "/v1/sessions/s")
            #expect(session.json["last_event_id"] as? Int == Int(events.last?.id ?? -1))
        }
    }

    /// Opens a stream at `path` and returns its first event.
    static func firstEvent(port: Int, path: String) async throws -> ServerSentEvent {
        try await withTimeout(.seconds(30), waitingFor: "the first event of \(path)") {
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), deadline: .distantFuture)
            var parser = ServerSentEventParser()
            for try await buffer in response.body {
                if let event = parser.feed(buffer.readableBytesView).first { return event }
            }
            throw TimeoutError("the stream ended without an event")
        }
    }
}
