@testable import BatonCore
import Foundation
import Testing

/// What the message path reads from a message's text and makes up for it.
struct MessageTextTests {
    @Test(arguments: [
        ("/restart", ChatCommand.restart(now: false)), (" \t/restart\n", .restart(now: false)),
        ("/restart now", .restart(now: true)), ("\u{00A0}/status\u{2029}", .status),
    ])
    func commandsAreFoundWithWhiteSpaceAround(text: String, command: ChatCommand) {
        #expect(ChatCommand(text: text) == command)
    }

    @Test(arguments: ["restart", "/restart later", "please /status", "", "   ", "/"])
    func otherTextIsNoCommand(text: String) {
        #expect(ChatCommand(text: text) == nil)
    }

    @Test func trimmingTakesWhiteSpaceFromBothEndsOnly() {
        #expect(" \t/restart now\u{3000}\n".trimmingWhiteSpace == "/restart now")
        #expect("\u{00A0} a  b ".trimmingWhiteSpace == "a  b")
        #expect("  ".trimmingWhiteSpace.isEmpty && "".trimmingWhiteSpace.isEmpty)
    }

    @Test func blankTextIsOnlyWhiteSpace() {
        #expect("".isBlank && " \t\r\n".isBlank && "\u{00A0}\u{3000}".isBlank)
        #expect(!"a".isBlank && !" . ".isBlank && !"\u{200B}x".isBlank)
    }

    @Test func whiteSpaceIsUnicodesWhiteSpaceForEveryScalar() {
        // ASCII is answered without the Unicode tables: it must give the tables' answer,
        // and so must every other scalar of the Basic Multilingual Plane.
        let scalars = (0...0xFFFF).compactMap(Unicode.Scalar.init(_:) as (UInt32) -> Unicode.Scalar?)
        let differing = scalars.filter { $0.isWhiteSpace != $0.properties.isWhitespace }
        #expect(differing.isEmpty, "\(differing.map { String($0.value, radix: 16) })")
        #expect(scalars.filter(\.isWhiteSpace).count == 25, "Unicode's White_Space: 25 scalars, all in the BMP")
    }

    @Test func madeIDsAreVersion7UUIDsThatSortByTime() throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let ids = (0..<200).map { MessageID.make(at: start.addingTimeInterval(Double($0) / 100)) }
        for id in ids {
            let uuid = try #require(UUID(uuidString: id), "\(id)")
            #expect(id == id.lowercased())
            #expect(uuid.uuidString.lowercased() == id)
            #expect(Array(id)[14] == "7", "version nibble of \(id)")
            #expect("89ab".contains(Array(id)[19]), "variant of \(id)")
        }
        // Ids made in different milliseconds sort in the order they were made.
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids[0].hasPrefix("01a3185c-5000-7"), "\(ids[0]): 1,800,000,000,000 ms in its first 48 bits")
    }

    @Test func idsMadeInTheSameMillisecondDiffer() {
        // More ids than one draw of the random pool holds words for.
        let now = Date()
        let ids = (0..<2_000).map { _ in MessageID.make(at: now) }
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map { $0.dropFirst(14) }).count == ids.count, "the random part differs, not only the time")
    }
}
