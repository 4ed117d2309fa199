import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import Testing

@Suite struct MessagesAPITests {
    @Test func messagesAreAcknowledgedThenAnsweredOneAtATimeInOrder() async throws {
        let agent = GatedAgent()
        try await InProcessBaton().run(agent: agent) { app, client in
            let first = try await client.post(session: "s1", text: "one")
            #expect(first.status == 202)
            #expect(first.instance == app.gateway.instance)
            #expect(first.json["status"] as? String == "accepted" && first.json["position"] as? Int == 0)
            await agent.waitUntilStarted("one")
            let second = try await client.send(session: "s1", text: "two")
            let third = try await client.send(session: "s1", text: "three")
            #expect(second.acknowledgement.status == "queued" && second.acknowledgement.position == 1)
            #expect(third.acknowledgement.status == "queued" && third.acknowledgement.position == 2)
            let busy = try await client.request("GET", "/v1/sessions/s1")
            #expect(busy.json["state"] as? String == "busy" && busy.json["queued"] as? Int == 2)

            agent.releaseAll()
            let events = try await client.events(session: "s1") { events in events.filter(\.isReply).count == 3 }
            #expect(events.filter(\.isReply).compactMap { $0.payload?.text } == ["answer to one", "answer to two", "answer to three"])
            #expect(events.compactMap(\.id) == Array(1...Int64(events.count)))
            #expect(events.filter { $0.isNotice("queued") }.count == 2)
        }
    }

    @Test func theSameIdAnswersAsTheFirstTimeAndStartsNoSecondTurn() async throws {
        try await InProcessBaton().run { _, client in
            let first = try await client.post(session: "s1", text: "hello", id: "client-key-1")
            let again = try await client.post(session: "s1", text: "hello", id: "client-key-1")
            #expect(first.status == 202 && again.status == 202)
            #expect(first.text == again.text)
            _ = try await client.events(session: "s1") { $0.contains(where: \.isReply) }
            // Once answered, it is found in the store.
            let later = try await client.post(session: "s1", text: "hello", id: "client-key-1")
            #expect(later.text == first.text)
            let marker = try await client.send(session: "s1", text: "marker")
            let events = try await client.events(session: "s1") { events in
                events.contains { $0.payload?.inReplyTo == marker.id }
            }
            #expect(events.filter { $0.payload?.inReplyTo == "client-key-1" }.count == 1)
        }
    }

    @Test("An id already naming a message of another session or user is a 409, not that message's answer: the new message would never run")
    func anIdOfAnotherSessionsMessageIsAConflict() async throws {
        try await InProcessBaton().run { app, client in
            let first = try await client.post(session: "s1", user: "bob", text: "hello", id: "shared-key")
            #expect(first.status == 202)
            for (session, user) in [("s2", "carol"), ("s1", "carol"), ("s2", "bob")] {
                let other = try await client.post(session: session, user: user, text: "mine", id: "shared-key")
                #expect(other.status == 409, "\(session)/\(user): \(other.text)")
                #expect(other.errorMessage?.contains("id of its own") == true, "\(other.text)")
            }
            _ = try await client.events(session: "s1") { $0.contains(where: \.isReply) }
            // Found in the store now, not in memory: the same answer.
            #expect(try await client.post(session: "s2", user: "carol", text: "mine", id: "shared-key").status == 409)
            let again = try await client.post(session: "s1", user: "bob", text: "hello", id: "shared-key")
            #expect(again.status == 202 && again.text == first.text)
            #expect(try await app.store.messageCount() == 1)
        }
    }

    @Test(arguments: [
        (#"{"session": "s", "user": "u", "text": "#, 400, "not valid JSON"),
        (#"["a list"]"#, 400, "JSON object"),
        (#"{"user": "u", "text": "hi"}"#, 400, #"missing field "session""#),
        (#"{"session": "s", "text": "hi"}"#, 400, #"missing field "user""#),
        (#"{"session": "s", "user": "u", "text": ""}"#, 400, #"field "text" must not be empty"#),
        (#"{"session": "s", "user": "u", "text": 42}"#, 400, #"field "text" must be a string"#),
        (#"{"session": "s", "user": "u", "text": "a\u0000b"}"#, 400, #"field "text" must not contain U+0000"#),
        (#"{"session": "", "user": "u", "text": "hi"}"#, 400, #"field "session" must not be empty"#),
        (#"{"session": "a/b", "user": "u", "text": "hi"}"#, 400, #"must not contain "/""#),
        (#"{"session": "s", "user": "u", "text": "hi", "id": 7}"#, 400, #"field "id" must be a string"#),
        ("", 400, "body is empty"),
    ])
    func badBodiesGetA400NamingTheProblemAndStoreNothing(body: String, status: Int, problem: String) async throws {
        try await InProcessBaton().run { app, client in
            let response = try await client.request("POST", "/v1/messages", body: Array(body.utf8))
            #expect(response.status == status)
            #expect(response.errorMessage?.contains(problem) == true, "\(response.text)")
            #expect(response.instance == app.gateway.instance)
            #expect(try await app.store.messageCount() == 0)
            // The server keeps serving.
            #expect(try await client.post(session: "s", text: "still here").status == 202)
        }
    }

    @Test func invalidUTF8AndOversizedBodiesAreRefused() async throws {
        try await InProcessBaton { $0.limits.maxMessageBytes = 256 }.run { app, client in
            let invalid = Array(#"{"session": "s", "user": "u", "text": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8)
            let utf8 = try await client.request("POST", "/v1/messages", body: invalid)
            #expect(utf8.status == 400 && utf8.errorMessage == "body is not valid UTF-8")

            let big = try await client.post(session: "s", text: String(repeating: "x", count: 300))
            #expect(big.status == 413)
            #expect(big.errorMessage?.contains("limits.max_message_bytes (256)") == true)
            #expect(try await app.store.messageCount() == 0)
        }
    }

    @Test func unknownPathsAndMethodsAnswerJSONErrors() async throws {
        try await InProcessBaton().run { app, client in
            let missing = try await client.request("GET", "/v2/nothing")
            #expect(missing.status == 404)
            #expect(missing.errorMessage?.contains("/v2/nothing") == true)
            #expect(missing.instance == app.gateway.instance)
            let wrongMethod = try await client.request("DELETE", "/v1/messages")
            #expect((400..<500).contains(wrongMethod.status))
            #expect(wrongMethod.errorMessage != nil)
        }
    }

    @Test func aFullSessionQueueAnswers429() async throws {
        let agent = GatedAgent()
        try await InProcessBaton { $0.limits.maxQueuePerSession = 2 }.run(agent: agent) { _, client in
            _ = try await client.send(session: "s", text: "running")
            await agent.waitUntilStarted("running")
            _ = try await client.send(session: "s", text: "waiting 1")
            _ = try await client.send(session: "s", text: "waiting 2")
            let full = try await client.post(session: "s", text: "one too many")
            #expect(full.status == 429)
            #expect(full.errorMessage?.contains("limits.max_queue_per_session") == true)
            #expect(try await client.post(session: "other", text: "fine").status == 202)
            agent.releaseAll()
        }
    }

    @Test func rejectModeAnswers503WithRetryAfterAndStoresNothing() async throws {
        let agent = GatedAgent()
        try await InProcessBaton { $0.busyInput = .reject }.run(agent: agent) { app, client in
            _ = try await client.send(session: "s", text: "running")
            await agent.waitUntilStarted("running")
            let busy = try await client.post(session: "s", text: "too soon")
            #expect(busy.status == 503)
            #expect(busy.header("Retry-After") != nil)
            #expect(busy.json["status"] as? String == "rejected" && busy.json["reason"] as? String == "busy")
            #expect(try await app.store.messageCount() == 1)

            try await app.gateway.requestDrain(.restart, immediate: false, origin: .control)
            let draining = try await client.post(session: "idle", text: "during the drain")
            #expect(draining.status == 503 && draining.json["reason"] as? String == "draining")
            #expect(try await app.store.messageCount() == 1)
            agent.releaseAll()
        }
    }

    @Test func interruptModeCutsTheRunningTurnAndRunsTheNewMessage() async throws {
        let agent = GatedAgent()
        try await InProcessBaton { $0.busyInput = .interrupt }.run(agent: agent) { _, client in
            let old = try await client.send(session: "s", text: "long answer")
            await agent.waitUntilStarted("long answer")
            agent.release("change of mind")
            let new = try await client.send(session: "s", text: "change of mind")
            let events = try await client.events(session: "s") { events in
                events.contains { $0.payload?.inReplyTo == new.id }
            }
            #expect(events.contains { $0.isNotice("interrupted") && $0.payload?.message == old.id })
            #expect(!events.contains { $0.isReply && $0.payload?.inReplyTo == old.id })
        }
    }

    @Test("A session or user whose name needs percent-encoding in a URL: its stream, status and user are reached through the encoded path")
    func namesThatNeedPercentEncoding() async throws {
        try await InProcessBaton().run { app, client in
            let session = "team chat?#%ü"
            _ = try await client.send(session: session, text: "hello")
            // The client's URL carries the name percent-encoded.
            let events = try await client.events(session: session) { $0.contains(where: \.isReply) }
            #expect(events.filter(\.isReply).compactMap { $0.payload?.text } == ["Demo agent heard bob: hello"])
            let status = try await client.request("GET", "/v1/sessions/\(BatonHTTPClient.pathComponent(session))")
            #expect(status.status == 200)
            #expect(status.json["session"] as? String == session && status.json["last_event_id"] as? Int == events.count)
            let user = try await client.request("GET", "/v1/users/\(BatonHTTPClient.pathComponent("alice smith"))")
            #expect(user.json["user"] as? String == "alice smith")
            // Sent as it is (an HTTP client library would escape the `%`).
            let port = try #require(app.httpSocket.port)
            let broken = try await RawHTTPExchange(pieces: [Array("GET /v1/sessions/bad%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)]).run(port: port)
            #expect(broken.statuses == [400] && broken.head.contains("percent-encoding"), "\(broken.head)")
        }
    }

    @Test("A request that is not valid HTTP/1.1 gets a 400 like any other answer: stamped with the instance, saying why")
    func malformedHTTPIsAnsweredLikeAnyOtherRequest() async throws {
        try await InProcessBaton().run { app, _ in
            let port = try #require(app.httpSocket.port)
            let request = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: many\r\n\r\n"
            let outcome = try await RawHTTPExchange(pieces: [Array(request.utf8)]).run(port: port)
            #expect(outcome.statuses == [400], "\(outcome.head)")
            #expect(outcome.head.lowercased().contains("baton-instance: \(app.gateway.instance)"), "\(outcome.head)")
            #expect(outcome.head.contains(#"{"error":"The request is not valid HTTP/1.1"#), "\(outcome.head)")
            #expect(try await app.store.messageCount() == 0)
        }
    }

    @Test func statusCommandIsAnsweredOnTheStream() async throws {
        try await InProcessBaton().run { app, client in
            let response = try await client.post(session: "s", user: "anyone", text: "/status")
            #expect(response.status == 202 && response.json["status"] as? String == "answered")
            let events = try await client.events(session: "s") { $0.contains { $0.isNotice("status") } }
            let text = try #require(events.first { $0.isNotice("status") }?.payload?.text)
            #expect(text.contains("Ready") && text.contains(app.gateway.instance))
            #expect(try await app.store.messageCount() == 0)
        }
    }

    @Test("/status sent again with the same id is answered once on the stream")
    func statusCommandWithAnIdIsAnsweredOnce() async throws {
        try await InProcessBaton().run { app, client in
            for _ in 0..<2 {
                let response = try await client.post(session: "s", user: "anyone", text: "/status", id: "status-1")
                #expect(response.status == 202 && response.json["status"] as? String == "answered")
            }
            let after = try await client.send(session: "s", text: "after")
            let events = try await client.events(session: "s") { events in
                events.contains { $0.payload?.inReplyTo == after.id }
            }
            #expect(events.filter { $0.isNotice("status") }.count == 1, "\(events)")
        }
    }
}
