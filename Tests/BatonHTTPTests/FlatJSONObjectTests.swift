@testable import BatonHTTP
import BatonTestSupport
import Foundation
import Testing

/// The message body reader against `JSONSerialization`: every body it reads, it reads as
/// `JSONSerialization` does; the bodies it leaves go to `JSONSerialization` anyway.
@Suite struct FlatJSONObjectTests {
    /// What `JSONSerialization` makes of `body`, as the reader's result type; nil when it
    /// refuses it or it is not an object of strings and nulls.
    private func serialization(_ body: [UInt8]) -> FlatJSONObject.Members? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        var members: FlatJSONObject.Members = [:]
        for (key, value) in object {
            if let string = value as? String {
                members[key] = .some(string)
            } else if value is NSNull {
                members[key] = .some(nil)
            } else {
                return nil
            }
        }
        return members
    }

    /// Reads `text` and checks the answer against `JSONSerialization`; returns whether it read it.
    @discardableResult
    private func check(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let body = Array(text.utf8)
        guard let read = FlatJSONObject.read(body) else { return false }
        #expect(read == serialization(body), "\(text)", sourceLocation: sourceLocation)
        #expect(!MessageRequestParser.hasTrailingComma(body), "\(text)", sourceLocation: sourceLocation)
        return true
    }

    @Test func readsMessageBodiesAsJSONSerializationDoes() {
        let read = [
            #"{"session":"s","user":"u","text":"hello"}"#,
            #"{}"#,
            " \r\n\t{ \"session\" : \"s\" ,\n\"id\":null , \"text\":\"\" } \n",
            #"{"text":"quote \" backslash \\ slash \/ \b\f\n\r\t"}"#,
            #"{"text":"\u00e9\u00C9\u0041\u0000\u001f\u2028\uffff"}"#,
            #"{"text":"é 🙂 中文 raw UTF-8"}"#,
            #"{"":"empty key","k":"v"}"#,
        ]
        for text in read {
            #expect(check(text), "the reader left \(text) to JSONSerialization")
        }
    }

    @Test func leavesEverythingElseToJSONSerialization() {
        let left = [
            #"{"a":"b","a":"c"}"#,  // a duplicate key
            #"{"text":1}"#, #"{"text":true}"#, #"{"text":{"a":"b"}}"#, #"{"text":["a"]}"#,
            #"{"text":"\uD83D\uDE00"}"#, #"{"text":"\uD800"}"#,  // surrogates
            #"{"text":"a",}"#, #"{"text":"a""user":"b"}"#, #"{"text":"a"} x"#, #"{"text":"a"}}"#,
            "{\"text\":\"raw\ncontrol\"}", #"{"text":"\x"}"#, #"{"text":"\u12"}"#, #"{"text":"\u12g4"}"#,
            #"{"text":"unterminated}"#, #"{"text":nul}"#, #"{"text":nullx}"#, #"{text:"a"}"#,
            #"["a"]"#, #""a""#, "", " ", "{", "\u{FEFF}{}",
        ]
        for text in left {
            #expect(FlatJSONObject.read(Array(text.utf8)) == nil, "\(text)")
        }
    }

    /// Random objects of random strings, each character written raw, with a short escape or
    /// as `\u` where JSON allows, with random white space between the tokens.
    @Test func readsRandomObjectsAsJSONSerializationDoes() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var generator = SeededGenerator(seed: seed)
        let alphabet: [Unicode.Scalar] = ["a", "Z", "0", " ", "\"", "\\", "/", "\u{0}", "\u{8}", "\u{C}", "\n", "\r", "\t", "\u{1F}", "\u{7F}", "é", "\u{2028}", "中", "🙂"]
        let spaces = ["", " ", "\n", "\t", "\r\n  "]
        func space() -> String { spaces.randomElement(using: &generator)! }
        func encoded(_ scalars: [Unicode.Scalar]) -> String {
            var text = "\""
            for scalar in scalars {
                let escapes: [String] = switch scalar {
                case "\"": [#"\""#]
                case "\\": [#"\\"#]
                case "/": ["/", #"\/"#]
                case "\n": [#"\n"#, #"\u000a"#]
                case "\t": [#"\t"#, #"\u0009"#]
                case "\r": [#"\r"#, #"\u000D"#]
                case "\u{8}": [#"\b"#, #"\u0008"#]
                case "\u{C}": [#"\f"#, #"\u000c"#]
                case _ where scalar.value < 0x20: [String(format: #"\u%04x"#, scalar.value), String(format: #"\u%04X"#, scalar.value)]
                case _ where scalar.value > 0xFFFF: [String(scalar)]
                default: [String(scalar), String(format: #"\u%04x"#, scalar.value)]
                }
                text += escapes.randomElement(using: &generator)!
            }
            return text + "\""
        }
        for _ in 0..<2000 {
            var keys: Set<[Unicode.Scalar]> = []
            var members: [String] = []
            for _ in 0..<Int.random(in: 0...5, using: &generator) {
                let key = (0..<Int.random(in: 0...4, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
                guard keys.insert(key).inserted else { continue }
                let value = Bool.random(using: &generator)
                    ? encoded((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                    : "null"
                members.append(space() + encoded(key) + space() + ":" + space() + value + space())
            }
            let text = space() + "{" + members.joined(separator: ",") + (members.isEmpty ? space() : "") + "}" + space()
            #expect(check(text), "seed \(seed): the reader left \(text) to JSONSerialization")
        }
    }
}
