import BatonCore
import Testing

@testable import BatonAgents

/// How agent output becomes replies, without processes or sockets.
@Suite struct OutputParsingTests {
    @Test func jsonLinesAreRepliesAsSoonAsEachLineIsComplete() throws {
        var parser = ExecOutputParser()
        #expect(try parser.consume(Array(#"{"text": "one"}"#.utf8)) == [])
        #expect(try parser.consume(Array("\n\n{\"text\": \"two\"}\r\nnot json\n".utf8)) == ["one", "two", "not json"])
        #expect(try parser.consume(Array(#"{"text": "last"}"#.utf8)) == [])
        #expect(parser.finish() == ["last"])
        #expect(parser.format == .jsonLines)
    }

    @Test func plainTextIsOneReplyAtTheEnd() throws {
        var parser = ExecOutputParser()
        #expect(try parser.consume(Array("\nHello,\n".utf8)) == [])
        #expect(try parser.consume(Array("{\"text\": \"not a reply\"}\nworld\n\n".utf8)) == [])
        #expect(parser.finish() == ["\nHello,\n{\"text\": \"not a reply\"}\nworld"])
        #expect(parser.format == .plainText)
    }

    @Test func blankOutputIsNoReply() throws {
        var parser = ExecOutputParser()
        #expect(try parser.consume(Array(" \n\n".utf8)) == [])
        #expect(parser.finish() == [])
    }

    @Test func outputPastTheLimitFailsTheTurn() throws {
        var parser = ExecOutputParser(limit: 8)
        #expect(throws: AgentError.self) { try parser.consume(Array("0123456789".utf8)) }
    }

    @Test("JSON lines past the limit in all fail the turn, though each line is short")
    func jsonLinesPastTheLimitInAllFailTheTurn() throws {
        var parser = ExecOutputParser(limit: 64)
        let line = Array(#"{"text":"0123456789"}"#.utf8) + [UInt8(ascii: "\n")]
        var delivered: [String] = []
        let error = #expect(throws: AgentError.self) {
            for _ in 0..<10 { delivered += try parser.consume(line) }
        }
        #expect(delivered == Array(repeating: "0123456789", count: 64 / line.count))
        #expect(error?.description.contains("more than") == true, "\(String(describing: error))")
    }

    @Test("Lines complete before the limit, in the read that crosses it, are replies; the turn fails after them")
    func linesBeforeTheLimitInTheReadThatCrossesItAreDelivered() throws {
        let line = Array(#"{"text":"0123456789"}"#.utf8) + [UInt8(ascii: "\n")]
        var parser = ExecOutputParser(limit: 3 * line.count - 1)
        #expect(try parser.consume(line + line + line) == ["0123456789", "0123456789"])
        #expect(parser.overflow?.description.contains("more than") == true)
        #expect(throws: AgentError.self) { try parser.consume(line) }
    }

    @Test func eventStreamsFollowTheFormat() {
        var parser = ServerSentEventParser()
        let events = parser.consume(Array(": comment\nevent: reply\nid: 7\ndata: a\ndata:b\n\ndata: {\"text\": \"x\"}\r\n\r\nretry: 5\n\n".utf8))
        #expect(events == [ServerSentEvent(name: "reply", data: "a\nb", id: "7"), ServerSentEvent(data: #"{"text": "x"}"#)])
        #expect(parser.consume(Array("data: cut off".utf8)) == [])
        #expect(parser.finish() == [ServerSentEvent(data: "cut off")])
    }

    @Test func replyJSONNeedsAStringText() {
        #expect(ReplyText.decode(Array(#" {"text": "hi", "extra": 1}"#.utf8)) == "hi")
        #expect(ReplyText.decode(Array(#"{"text": 3}"#.utf8)) == nil)
        #expect(ReplyText.decode(Array(#"["text"]"#.utf8)) == nil)
        #expect(ReplyText.plain(Array("two\nlines\r\n\n".utf8)) == "two\nlines")
    }
}
