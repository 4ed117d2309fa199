import BatonMatrix
import BatonTestSupport
import Foundation
import Glibc
import Testing

/// A reply the homeserver refuses is dropped only when the refusal is about that reply or
/// its room; a refusal of the bot's account holds it until the homeserver takes it again.
@Suite("Matrix sends the homeserver refuses", .serialized)
struct MatrixSendRefusalTests {
    @Test(
        "Only a refusal whose error code is about the request itself is final for it",
        arguments: [
            (403, "M_FORBIDDEN", true), (404, "M_NOT_FOUND", true), (413, "M_TOO_LARGE", true), (400, "M_BAD_JSON", true),
            (400, "M_NOT_JSON", true), (400, "M_INVALID_PARAM", true),
            (403, "M_USER_SUSPENDED", false), (403, "M_RESOURCE_LIMIT_EXCEEDED", false), (403, "M_CONSENT_NOT_GIVEN", false),
            (403, "ORG_MATRIX_EXPIRED_ACCOUNT", false), (400, "M_UNKNOWN", false), (403, nil, false), (404, nil, false),
        ] as [(Int, String?, Bool)])
    func refusals(status: Int, errcode: String?, ofThisRequest: Bool) {
        let error = MatrixError(.http(status: status), errcode: errcode, message: "refused")
        #expect(error.isRefusal)
        #expect(error.isRefusalOfThisRequest == ofThisRequest)
    }

    @Test(
        "Rate limits, bad tokens, timeouts, server errors and no answer are not refusals",
        arguments: [
            MatrixError(.http(status: 429), errcode: "M_LIMIT_EXCEEDED", message: "slow down"),
            MatrixError(.http(status: 400), errcode: "M_LIMIT_EXCEEDED", message: "slow down"),
            MatrixError(.http(status: 401), errcode: "M_UNKNOWN_TOKEN", message: "who?"),
            MatrixError(.http(status: 403), errcode: "M_MISSING_TOKEN", message: "who?"),
            MatrixError(.http(status: 408), message: "timed out"),
            MatrixError(.http(status: 502), message: "bad gateway"),
            MatrixError(.transport, message: "connection refused"),
        ])
    func notRefusals(error: MatrixError) {
        #expect(!error.isRefusal)
        #expect(!error.isRefusalOfThisRequest)
    }

    @Test("A reply refused while the bot's account is suspended arrives, once, after the suspension is lifted")
    func heldWhileSuspended() async throws {
        try await withMatrixConversation { chat in
            let admin = try await chat.synapse.register("admin", admin: true)
            defer { admin.close() }
            let sendRetries = #"baton_matrix_retries_total{operation="send"}"#
            let retriedBefore = try await chat.fixture.client.metrics()[sendRetries] ?? 0
            try await admin.setSuspended(true, chat.bot.userID)

            // Sync goes on while the account is suspended: the message is read, its turn
            // runs, and its reply is refused.
            let message = try await chat.bob.send("hello while suspended", to: chat.room)
            _ = try await eventually("a send refused", timeout: .seconds(60), interval: .milliseconds(100)) {
                try await chat.fixture.client.metrics()[sendRetries] ?? 0 > retriedBefore ? true : nil
            }
            let held = try #require(try await chat.adapterStatus())
            #expect(held.backlog == 1, "the reply waits")
            #expect(held.state == "connected")
            #expect(try await chat.replyCounts() == [:])
            _ = try await eventually("the log saying why the reply is held", timeout: .seconds(10), interval: .milliseconds(100)) {
                chat.fixture.serverLogs.contains("held until the homeserver takes it: HTTP 403 M_USER_SUSPENDED") ? true : nil
            }

            try await admin.setSuspended(false, chat.bot.userID)
            let replies = try await chat.waitForReplies(to: [message])
            let reply = try #require(replies.first { $0.sender == chat.bot.userID && $0.inReplyTo == message })
            #expect(reply.body == "Demo agent heard \(chat.bob.userID): hello while suspended")
            _ = try await eventually("every event delivered", timeout: .seconds(30), interval: .milliseconds(100)) {
                try await chat.adapterStatus()?.backlog == 0 ? true : nil
            }
            #expect(try await chat.replyCounts() == [message: 1])
        }
    }

    @Test("An invite the bot could not take up while its account was suspended is taken up by the next process")
    func inviteOutlivesARestart() async throws {
        try await withMatrixConversation { chat in
            let admin = try await chat.synapse.register("admin", admin: true)
            defer { admin.close() }
            try await admin.setSuspended(true, chat.bot.userID)
            let room = try await chat.alice.createRoom(inviting: [chat.bot.userID])
            _ = try await eventually("the join refused", timeout: .seconds(60), interval: .milliseconds(100)) {
                chat.fixture.serverLogs.contains("Could not join a room yet") ? true : nil
            }
            // A message read in a later batch: the stored position is past the invite's.
            _ = try await chat.bob.send("after the invite", to: chat.room)
            struct SessionBody: Decodable { var lastEventId: Int64 }
            let session = "/v1/sessions/\(BatonHTTPClient.pathComponent(chat.room))"
            _ = try await eventually("the message after the invite stored", timeout: .seconds(60), interval: .milliseconds(100)) {
                try await chat.fixture.client.request("GET", session).decode(SessionBody.self).lastEventId > 0 ? true : nil
            }
            chat.server.send(SIGTERM)
            #expect(try await chat.server.exit(within: .seconds(30)) == .exited(0))

            try await admin.setSuspended(false, chat.bot.userID)
            _ = try await chat.fixture.startServer()
            // What is sent before the bot's join is history to it: wait for the join first.
            _ = try await eventually("the next process in the room", timeout: .seconds(60), interval: .milliseconds(100)) {
                try await chat.adapterStatus()?.rooms.contains(room) == true ? true : nil
            }
            let message = try await chat.alice.send("hello in the new room", to: room)
            try await chat.alice.waitForReplies(from: chat.bot.userID, to: [message], in: room, timeout: .seconds(60))
        }
    }
}
