import BatonCore
import Foundation
import Testing

@testable import BatonMatrix

@Suite("Which room events become messages")
struct MatrixTimelineTests {
    let bot = "@baton:test"
    let room = "!room:test"

    func text(_ id: String, from sender: String, _ body: String, msgtype: String = "m.text", relation: String? = nil) -> MatrixRoomEvent {
        MatrixRoomEvent(
            type: "m.room.message", eventID: id, sender: sender, originServerTimestamp: 1_700_000_000_000, msgtype: msgtype, body: body,
            relation: relation)
    }

    @Test("A person's text is a message of the room's session, keyed by its event id")
    func textMessage() {
        let reading = MatrixTimeline.read([text("$1", from: "@bob:test", "hello")], room: room, bot: bot)
        #expect(reading.messages.map(\.incoming) == [IncomingMessage(id: "$1", session: room, user: "@bob:test", text: "hello")])
        #expect(!reading.encrypted)
    }

    @Test("Notices, edits, the bot's own events and other types are skipped")
    func skipped() {
        let events = [
            text("$1", from: "@other-bot:test", "beep", msgtype: "m.notice"),
            text("$2", from: "@bob:test", "* hello", relation: "m.replace"),
            text("$3", from: bot, "my own reply"),
            text("$4", from: "@bob:test", "an image", msgtype: "m.image"),
            MatrixRoomEvent(type: "m.reaction", eventID: "$5", sender: "@bob:test"),
            text("$6", from: "@bob:test", "kept"),
        ]
        #expect(MatrixTimeline.read(events, room: room, bot: bot).messages.map(\.incoming.id) == ["$6"])
    }

    @Test("History before the bot's own join is not answered")
    func beforeJoin() {
        let events = [
            text("$1", from: "@bob:test", "before"),
            MatrixRoomEvent(type: "m.room.member", eventID: "$2", sender: bot, stateKey: bot, membership: "join"),
            text("$3", from: "@bob:test", "after"),
        ]
        #expect(MatrixTimeline.read(events, room: room, bot: bot).messages.map(\.incoming.text) == ["after"])
    }

    @Test("A change of the bot's display name or avatar is not a join: what came before it is answered")
    func profileChangeIsNoJoin() throws {
        let rename = #"""
            {"type": "m.room.member", "event_id": "$2", "sender": "@baton:test", "state_key": "@baton:test",
             "content": {"membership": "join", "displayname": "Baton 2"},
             "unsigned": {"prev_content": {"membership": "join", "displayname": "Baton"}}}
            """#
        let events = [
            MatrixRoomEvent(type: "m.room.member", eventID: "$0", sender: bot, stateKey: bot, membership: "join", previousMembership: "invite"),
            text("$1", from: "@bob:test", "before the rename"),
            try JSONDecoder().decode(MatrixRoomEvent.self, from: Data(rename.utf8)),
            text("$3", from: "@bob:test", "after the rename"),
        ]
        #expect(events[2].previousMembership == "join")
        #expect(MatrixTimeline.read(events, room: room, bot: bot).messages.map(\.incoming.text) == ["before the rename", "after the rename"])
    }

    @Test("A U+0000 in a message's body becomes U+FFFD, as every store can hold it")
    func nulBecomesReplacementCharacter() {
        let reading = MatrixTimeline.read([text("$1", from: "@bob:test", "a\u{0}b")], room: room, bot: bot)
        #expect(reading.messages.map(\.incoming.text) == ["a\u{FFFD}b"])
    }

    @Test("A message in a thread is read with its thread's root; a reply elsewhere is in no thread")
    func threadRoot() throws {
        let events = try JSONDecoder().decode(
            [MatrixRoomEvent].self,
            from: Data(
                #"""
                [{"type": "m.room.message", "event_id": "$2", "sender": "@bob:test", "origin_server_ts": 1,
                  "content": {"msgtype": "m.text", "body": "in the thread",
                              "m.relates_to": {"rel_type": "m.thread", "event_id": "$1", "is_falling_back": true,
                                               "m.in_reply_to": {"event_id": "$1"}}}},
                 {"type": "m.room.message", "event_id": "$3", "sender": "@bob:test", "origin_server_ts": 2,
                  "content": {"msgtype": "m.text", "body": "a plain reply", "m.relates_to": {"m.in_reply_to": {"event_id": "$1"}}}}]
                """#.utf8))
        let messages = MatrixTimeline.read(events, room: room, bot: bot).messages
        #expect(messages.map(\.incoming.id) == ["$2", "$3"])
        #expect(messages.map(\.threadRoot) == ["$1", nil])
    }

    @Test("An answer in a thread names the thread's root and replies to its message; its further parts only fall back to it")
    func answerInThread() throws {
        func json(_ content: MatrixMessageContent) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(content), as: UTF8.self)
        }
        #expect(
            try json(MatrixMessageContent(msgtype: "m.text", body: "hi", inReplyTo: "$2", threadRoot: "$1"))
                == #"{"body":"hi","m.relates_to":{"event_id":"$1","is_falling_back":false,"m.in_reply_to":{"event_id":"$2"},"rel_type":"m.thread"},"msgtype":"m.text"}"#)
        #expect(
            try json(MatrixMessageContent(msgtype: "m.text", body: "more", inReplyTo: "$2", threadRoot: "$1", isReply: false))
                == #"{"body":"more","m.relates_to":{"event_id":"$1","is_falling_back":true,"m.in_reply_to":{"event_id":"$2"},"rel_type":"m.thread"},"msgtype":"m.text"}"#)
        #expect(try json(MatrixMessageContent(msgtype: "m.text", body: "hi", inReplyTo: "$2")) == #"{"body":"hi","m.relates_to":{"m.in_reply_to":{"event_id":"$2"}},"msgtype":"m.text"}"#)
        #expect(try json(MatrixMessageContent(msgtype: "m.text", body: "more", inReplyTo: "$2", isReply: false)) == #"{"body":"more","msgtype":"m.text"}"#)
    }

    @Test("Encrypted events mark the room encrypted")
    func encrypted() {
        let events = [MatrixRoomEvent(type: "m.room.encrypted", eventID: "$1", sender: "@bob:test")]
        #expect(MatrixTimeline.read(events, room: room, bot: bot).encrypted)
    }

    @Test("A long text goes in parts that each fit, cut after a line, and together are the text")
    func longTextInParts() {
        let lines = (0..<2000).map { "line \($0) \(String(repeating: "\"", count: 30))\n" }.joined()
        let parts = MatrixOutbox.parts(of: lines, maxBytes: 10_000)
        #expect(parts.joined() == lines)
        #expect(parts.count > 1 && parts.allSatisfy { $0.utf8.count + $0.filter { $0 == "\"" }.count <= 10_000 })
        #expect(parts.dropLast().allSatisfy { $0.hasSuffix("\n") })
        #expect(MatrixOutbox.parts(of: "short").map(String.init) == ["short"])
        let unbroken = String(repeating: "é", count: 30_000)
        #expect(MatrixOutbox.parts(of: unbroken, maxBytes: 10_000).map(\.count) == [5_000, 5_000, 5_000, 5_000, 5_000, 5_000])
    }

    @Test("A resent event has the same transaction id; another event or room does not")
    func transactionIDs() {
        let event = SessionEvent(session: room, id: 7, kind: .reply, data: #"{"text":"hi"}"#)
        var other = event
        other.session = "!elsewhere:test"
        #expect(MatrixOutbox.transactionID(for: event) == MatrixOutbox.transactionID(for: event))
        #expect(MatrixOutbox.transactionID(for: event) != MatrixOutbox.transactionID(for: other))
        #expect(MatrixOutbox.transactionID(for: event).hasPrefix("baton-7-"))
        #expect(MatrixOutbox.transactionID(for: event, part: 1) == MatrixOutbox.transactionID(for: event) + "-2")
    }
}

extension MatrixTimelineTests {
    @Test("Encryption turned on before the bot joined marks the room encrypted")
    func encryptedBeforeJoin() {
        let events = [
            MatrixRoomEvent(type: "m.room.encryption", eventID: "$1", sender: "@alice:test", stateKey: ""),
            MatrixRoomEvent(type: "m.room.member", eventID: "$2", sender: bot, stateKey: bot, membership: "join"),
        ]
        #expect(MatrixTimeline.read(events, room: room, bot: bot).encrypted)
    }
}

@Suite("A sync answer of an unexpected shape")
struct MatrixSyncResponseTests {
    @Test("Parts of an unexpected shape are left out; the rest, and the position, are read")
    func partsOfAnUnexpectedShapeAreLeftOut() throws {
        let answer = #"""
            {"next_batch": "s42",
             "rooms": {
               "invite": {
                 "!odd:remote": {"invite_state": {"events": [1, "x", null]}},
                 "!odder:remote": {"invite_state": "not an object"},
                 "!fine:remote": {"invite_state": {"events": [
                   {"type": "m.room.member", "state_key": "@baton:test", "sender": "@alice:test", "content": {"membership": "invite"}}]}}
               },
               "join": {
                 "!room:test": {"timeline": {"events": [
                   7,
                   {"type": "m.room.message", "event_id": "$1", "sender": "@bob:test", "origin_server_ts": 1,
                    "content": {"msgtype": "m.text", "body": "hello"}}]}},
                 "!broken:test": "not an object"
               },
               "leave": []
             }}
            """#
        let response = try JSONDecoder().decode(MatrixSyncResponse.self, from: Data(answer.utf8))
        #expect(response.nextBatch == "s42")
        let invites = try #require(response.rooms?.invite)
        #expect(invites["!fine:remote"]?.inviteState?.events?.first?.sender == "@alice:test")
        #expect(invites["!odd:remote"]?.inviteState?.events?.allSatisfy { $0.type.isEmpty } == true)
        #expect(invites["!odder:remote"] != nil && invites["!odder:remote"]?.inviteState?.events == nil)
        let events = try #require(response.rooms?.join?["!room:test"]?.timeline?.events)
        #expect(events.map(\.body) == [nil, "hello"])
        #expect(response.rooms?.join?["!broken:test"]?.timeline == nil)
    }

    @Test("An answer without a position is refused")
    func anAnswerWithoutAPositionIsRefused() {
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(MatrixSyncResponse.self, from: Data(#"{"rooms": {}}"#.utf8)) }
    }
}
