import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Thousands of random and malformed requests at the chat API, with good ones among them.
///
/// Baton answers each bad one with a 4xx or closes the connection, stores none of them,
/// never answers 5xx or hangs, and answers every good message during and after. The
/// requests come from a seeded generator: the seed is printed, and
/// `BATON_FUZZ_SEED=<seed>` runs the very same requests again.
@Suite struct HostileInputTests {
    /// Hostile requests per run.
    static let hostileCount = 3000
    /// Connections in flight at once.
    static let concurrency = 24
    /// One good message among this many requests.
    static let goodEvery = 25
    /// Connections held open at once in the flood, each with half a request.
    static let floodConnections = 400

    static let seed: UInt64 = ProcessInfo.processInfo.environment["BATON_FUZZ_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 0...UInt64.max)

    @Test func malformedRequestsAreRefusedAndGoodOnesStillServed() async throws {
        let seed = Self.seed
        print("HostileInputTests: seed \(seed); repeat with BATON_FUZZ_SEED=\(seed)")
        let baton = InProcessBaton()
        var random = SeededGenerator(seed: seed)
        let hostile = (0..<Self.hostileCount).map { _ in
            HostileRequest.random(using: &random, maxBodyBytes: baton.configuration.limits.maxMessageBytes)
        }

        try await baton.run { app, client in
            let port = try #require(app.httpSocket.port)
            let good = try await Self.exchange(hostile, port: port, client: client, seed: seed)

            // Each kind of hostile request was refused as a message.
            let metrics = try await client.metrics()
            let refused = ["invalid", "too_large"].compactMap { metrics[#"baton_messages_rejected_total{reason="\#($0)"}"#] }
            #expect(refused.reduce(0, +) > 0)

            // Every good message, and nothing else, is on disk; each is answered by a turn.
            try await withTimeout(.seconds(60), waitingFor: "the good messages' turns to end") {
                for await status in await app.gateway.statusUpdates() where status.inFlight == 0 && status.queued == 0 { break }
            }
            #expect(try await app.store.messageCount() == good, "seed \(seed)")
            // A turn's end is published before the write group holding its final state commits.
            let store = app.store
            _ = try await eventually("the turns' final states on disk", timeout: .seconds(30)) {
                try await store.pendingMessages().isEmpty ? true : nil
            }
            #expect(try await client.request("GET", "/healthz").status == 200)
            #expect(try await client.send(session: "after", text: "still here").acknowledgement.status == "accepted")
        }
    }

    @Test func aFloodOfHalfOpenConnectionsDoesNotStopGoodRequests() async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let flood = try await Self.openHalfRequests(Self.floodConnections, port: port)
            for index in 0..<20 {
                let sent = try await client.send(session: "flood-\(index)", text: "through the flood")
                #expect(sent.acknowledgement.status == "accepted")
            }
            #expect(try await client.request("GET", "/healthz").status == 200)
            for channel in flood { try? await channel.close() }
            #expect(try await app.store.messageCount() == 20)
            #expect(try await client.request("GET", "/healthz").status == 200)
        }
    }

    /// Requests the fuzzing found answered 500 or stored, each answered 400 now.
    @Test(arguments: [
        ("trailing comma", #"{"session":"s","user":"u","text":"t",}"#, "Content-Length: 38"),
        ("body cut short", #"{"session":"s","user":"u","text":"t"}"#, "Content-Length: 80"),
        ("body under gzip", "25\r\n" + #"{"session":"s","user":"u","text":"t"}"# + "\r\n0\r\n\r\n", "Transfer-Encoding: gzip, chunked"),
        ("broken chunk", "25\r\n" + #"{"session":"s","user":"u","text":"t"}"# + "XX0\r\n\r\n", "Transfer-Encoding: chunked"),
    ])
    func foundByFuzzing(_ what: String, body: String, framing: String) async throws {
        try await InProcessBaton().run { app, _ in
            let port = try #require(app.httpSocket.port)
            let request = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\(framing)\r\n\r\n\(body)"
            let outcome = try await RawHTTPExchange(pieces: [Array(request.utf8)]).run(port: port)
            #expect(outcome.statuses == [400], "\(what): \(outcome.head.debugDescription)")
            #expect(try await app.store.messageCount() == 0)
        }
    }

    /// Runs the hostile requests `concurrency` at a time with a good message every
    /// `goodEvery`; returns how many good messages were stored.
    private static func exchange(_ hostile: [HostileRequest], port: Int, client: BatonHTTPClient, seed: UInt64) async throws -> Int {
        try await withTimeout(.seconds(240), waitingFor: "the hostile requests") {
            try await withThrowingTaskGroup(of: Int.self) { group in
                var good = 0
                for (index, request) in hostile.enumerated() {
                    if index >= concurrency { good += try await group.next() ?? 0 }
                    if index % goodEvery == 0 {
                        group.addTask {
                            let sent = try await client.send(session: "good-\(index % 7)", text: "good \(index)")
                            #expect(sent.acknowledgement.status == "accepted" || sent.acknowledgement.status == "queued")
                            return 1
                        }
                        good += try await group.next() ?? 0
                    }
                    group.addTask {
                        let outcome = try await request.exchange.run(port: port)
                        #expect(
                            outcome.statuses.allSatisfy { (400..<500).contains($0) },
                            "\(request) was \(outcome): \(outcome.head.debugDescription) (seed \(seed))")
                        return 0
                    }
                }
                for try await stored in group { good += stored }
                return good
            }
        }
    }

    /// Opens `count` connections that each send half a request and stay open.
    private static func openHalfRequests(_ count: Int, port: Int) async throws -> [any Channel] {
        var channels: [any Channel] = []
        for index in 0..<count {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            let partial = index % 2 == 0
                ? "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le"
                : "POST /v1/messages HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"session\""
            try await channel.writeAndFlush(ByteBuffer(string: partial))
            channels.append(channel)
        }
        return channels
    }
}
