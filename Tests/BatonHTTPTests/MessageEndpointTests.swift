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

    /// A request the server cannot parse, pipelined behind good ones while a message is
    /// answered: the good ones are answered first, then the 400, as the router does it.
    @Test func requestsBeforeAnUnreadableOneAreAnsweredFirst() async throws {
        try await InProcessBaton().run { app, _ in
            let port = try #require(app.httpSocket.port)
            let connection = try await KeptAliveConnection.open(port: port)
            let requests = [
                KeptAliveConnection.postRequest(session: "u", text: "one"), KeptAliveConnection.getRequest("/readyz"),
                "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nA header without a colon\r\n\r\n",
            ]
            let statuses = try await withTimeout(.seconds(30), waitingFor: "the answers up to the unreadable request") {
                try await connection.use { reader in try await reader.sendUntilClosed(requests).map(\.status) }
            }
            #expect(statuses == [202, 200, 400])
        }
    }

    /// A drain closes kept-alive connections after their next answer: messages pipelined
    /// behind that answer are neither answered nor stored (the client sends them again).
    @Test func duringADrainMessagesBehindAnAnswerAreLeftUnread() async throws {
        let agent = GatedAgent()
        let baton = InProcessBaton()
        try await baton.run(agent: agent) { app, client in
            let port = try #require(app.httpSocket.port)
            let connection = try await KeptAliveConnection.open(port: port)
            let answers = try await withTimeout(.seconds(30), waitingFor: "the answers during the drain") {
                try await connection.use { reader in
                    // A turn in flight keeps the drain going.
                    #expect(try await reader.post(session: "busy", text: "hold").status == 202)
                    for await _ in agent.started { break }
                    _ = try await app.gateway.requestDrain(.restart, immediate: false, origin: .control)
                    return try await reader.sendUntilClosed([
                        KeptAliveConnection.postRequest(session: "d", text: "first"), KeptAliveConnection.postRequest(session: "d", text: "second"),
                    ])
                }
            }
            #expect(answers.map(\.status) == [202])
            #expect(answers.first?.headers["connection"] == "close")
            agent.release("hold")
        }
        // Counted once the drain is over, when whatever the process took is stored.
        let texts = try SQLiteStore(directory: baton.stateDirectory).pendingMessages().map(\.text)
        #expect(texts == ["first"], "queued for the next process: the first, not the second")
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

    @Test("A message sent with Expect: 100-continue is told to go on, then answered; one over the limit is refused before its body")
    func expectContinue() async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let body = #"{"session":"x","user":"bob","text":"after the go-ahead"}"#
            @Sendable func head(length: Int) -> String {
                "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(length)\r\nExpect: 100-continue\r\n\r\n"
            }
            let connection = try await KeptAliveConnection.open(port: port)
            let (interim, answer, large, closed) = try await withTimeout(.seconds(30), waitingFor: "the answers to Expect: 100-continue") {
                try await connection.use { reader in
                    let interim = try await reader.send([head(length: body.utf8.count)])[0]
                    let answer = try await reader.send([body])[0]
                    // 10 MB said, nothing sent: the answer comes without the body.
                    let large = try await reader.send([head(length: 10_000_000)])[0]
                    return (interim, answer, large, try await reader.serverCloses())
                }
            }
            #expect(interim.status == 100)
            #expect(answer.status == 202, "\(answer.body)")
            #expect(large.status == 413, "\(large.body)")
            #expect(large.headers["connection"] == "close" && closed)
            _ = try await client.events(session: "x") { $0.contains(where: \.isReply) }
            #expect(try await app.store.messageCount() == 1)
        }
    }

    @Test("An HTTP/1.0 request's connection ends after its answer, unless it asks for keep-alive")
    func http10ConnectionsEndAfterTheAnswer() async throws {
        try await InProcessBaton().run { app, _ in
            let port = try #require(app.httpSocket.port)
            let body = #"{"session":"old","user":"bob","text":"one point oh"}"#
            let post = "POST /v1/messages HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let get = "GET /readyz HTTP/1.0\r\n\r\n"
            for (request, status) in [(post, 202), (get, 200)] {
                let connection = try await KeptAliveConnection.open(port: port)
                let (answer, closed) = try await withTimeout(.seconds(30), waitingFor: "an HTTP/1.0 answer and the connection's end") {
                    try await connection.use { reader in (try await reader.send([request])[0], try await reader.serverCloses()) }
                }
                #expect(answer.status == status && closed, "\(request)")
            }
            // An HTTP/1.0 client that says Expect gets no 100 Continue: the answer comes first.
            let expecting = "POST /v1/messages HTTP/1.0\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let expectingConnection = try await KeptAliveConnection.open(port: port)
            let expectingAnswer = try await withTimeout(.seconds(30), waitingFor: "an HTTP/1.0 answer to a request with Expect") {
                try await expectingConnection.use { reader in try await reader.send([expecting])[0] }
            }
            #expect(expectingAnswer.status == 202)
            let keptAlive = "GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
            let connection = try await KeptAliveConnection.open(port: port)
            let statuses = try await withTimeout(.seconds(30), waitingFor: "two answers on one HTTP/1.0 keep-alive connection") {
                try await connection.use { reader in try await reader.send([keptAlive, keptAlive]).map(\.status) }
            }
            #expect(statuses == [200, 200])
        }
    }

    @Test func aMessageSentAsTheClientClosesItsSideIsStillAnswered() async throws {
        try await InProcessBaton().run { app, client in
            let port = try #require(app.httpSocket.port)
            let body = #"{"session":"h","user":"bob","text":"last words"}"#
            let request = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            // RawHTTPExchange half-closes right after sending: the answer must still come.
            let outcome = try await RawHTTPExchange(pieces: [Array(request.utf8)]).run(port: port)
            #expect(outcome.statuses == [202], "\(outcome.head)")
            _ = try await client.events(session: "h") { $0.contains(where: \.isReply) }
        }
    }
}
