import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// `POST /v1/messages` is answered in front of the router (`MessageEndpoint`), everything
/// else by the router: on one connection, every request still gets its answer, in the
/// order it came, whichever way it went.
@Suite struct MessageEndpointTests {
    @Test func messagesAndOtherRequestsTakeTurnsOnOneKeptAliveConnection() async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let connection = try await KeptAliveConnection.open(port: port)
            let statuses = try await withTimeout(.seconds(30), waitingFor: "the answers on one connection") {
                try await connection.use { reader in
                    var statuses: [Int] = []
                    statuses.append(try await reader.post(session: "k", text: "one").status)
                    statuses.append(try await reader.get("/readyz").status)
                    statuses.append(try await reader.post(session: "k", text: "two").status)
                    statuses.append(try await reader.get("/v1/nothing").status)
                    statuses.append(try await reader.post(session: "", text: "refused").status)
                    statuses.append(try await reader.post(session: "k", text: "three").status)
                    return statuses
                }
            }
            #expect(statuses == [202, 200, 202, 404, 400, 202])
            let events = try await client.events(session: "k") { $0.filter(\.isReply).count == 3 }
            #expect(events.filter(\.isReply).compactMap { $0.payload?.text } == ["Demo agent heard bob: one", "Demo agent heard bob: two", "Demo agent heard bob: three"])
            #expect(try await app.store.messageCount() == 3)
        }
    }

    /// Pipelined: every request is written before any answer is read, so the ones behind a
    /// message wait while it is answered, and each must still be answered, in order.
    @Test func pipelinedRequestsAreEachAnsweredInOrder() async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let connection = try await KeptAliveConnection.open(port: port)
            let requests = [
                KeptAliveConnection.postRequest(session: "p", text: "one"), KeptAliveConnection.getRequest("/readyz"),
                KeptAliveConnection.postRequest(session: "p", text: "two"), KeptAliveConnection.postRequest(session: "p", text: "three"),
                KeptAliveConnection.getRequest("/v1/nothing"), KeptAliveConnection.postRequest(session: "", text: "refused"),
                KeptAliveConnection.getRequest("/readyz"),
            ]
            let statuses = try await withTimeout(.seconds(30), waitingFor: "an answer to each pipelined request") {
                try await connection.use { reader in try await reader.send(requests).map(\.status) }
            }
            #expect(statuses == [202, 200, 202, 202, 404, 400, 200])
            let events = try await client.events(session: "p") { $0.filter(\.isReply).count == 3 }
            #expect(events.filter(\.isReply).compactMap { $0.payload?.text } == ["Demo agent heard bob: one", "Demo agent heard bob: two", "Demo agent heard bob: three"])
        }
    }

    @Test func aMessageThatAsksForConnectionCloseIsAnsweredThenTheConnectionEnds() async throws {
        try await InProcessBaton().run { app, _ in
            let port = try #require(app.httpSocket.port)
            // Sends `Connection: close` and reads until the server closes (or 30 s pass).
            let body = Array(#"{"session":"c","user":"bob","text":"bye"}"#.utf8)
            let response = try await OneShotHTTP.post(port: port, path: "/v1/messages", json: body)
            #expect(response.status == 202)
            #expect(response.instance == app.gateway.instance)
        }
    }

    @Test func aMessageSentAsTheClientClosesItsSideIsStillAnswered() async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let body = #"{"session":"h","user":"bob","text":"last words"}"#
            let request = "POST /v1/messages HTTP/1.1\r\nHost: baton\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            // RawHTTPExchange half-closes right after sending: the answer must still come.
            let outcome = try await RawHTTPExchange(pieces: [Array(request.utf8)]).run(port: port)
            #expect(outcome.statuses == [202], "\(outcome.head)")
            _ = try await client.events(session: "h") { $0.contains(where: \.isReply) }
        }
    }
}
