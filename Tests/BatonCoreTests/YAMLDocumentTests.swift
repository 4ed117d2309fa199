import BatonCore
import Foundation
import Testing
import Yams

/// ``YAMLDocument`` types every scalar as `Yams.load` with its default resolver does: the
/// configuration means the same whichever reads it.
@Suite struct YAMLDocumentTests {
    /// Plain, quoted and odd spellings of every type the default resolver knows.
    static let scalars = [
        "60", "\"60\"", "'60'", "0", "-0", "+12", "-12", "1_000", "0x1F", "0x1f_ff", "0x", "0o17", "017", "08", "0_", "0b101",
        "0b", "0b12", "1:30", "1:30:59", "1:60", "-1:30", "0.5", ".5", "1.", "1e3", "1E3", "1.5e-3", "1.5e", "1_000.5", ".5e+3",
        ".5e3", "+.5", "1:30.5", "1:30.", ".inf", "-.inf", "+.Inf", ".INF", "inf", ".nan", ".NaN", "-.nan", "nan", "1.2.3",
        "12abc", "abc", "yes", "Yes", "YES", "yEs", "no", "No", "NO", "true", "True", "TRUE", "tRue", "false", "FALSE", "on",
        "ON", "Off", "off", "y", "n", "~", "null", "Null", "NULL", "nULL", "\"null\"", "'true'", "=",
        "0x1p3", "1__0", "_1", "+", "-", "1 2", "hello world", "\"\"", "2020-01-01T",
    ]

    @Test func plainAndQuotedScalarsGetTheTypesYamsGivesThem() throws {
        for scalar in Self.scalars {
            let text = "key: \(scalar)\nlist: [\(scalar)]\n"
            guard let loaded = try? Yams.load(yaml: text) else {
                #expect(throws: (any Error).self, "\(scalar) is not valid YAML here") { try YAMLDocument.load(text) }
                continue
            }
            #expect(Self.described(try YAMLDocument.load(text) as Any) == Self.described(loaded as Any), "\(scalar)")
        }
    }

    @Test func anEmptyValueIsNullAndAnEmptyDocumentNothing() throws {
        #expect(try YAMLDocument.load("") == nil)
        #expect(try YAMLDocument.load("# only a comment\n") == nil)
        let document = try #require(try YAMLDocument.load("key:\n") as? [String: Any])
        #expect(document["key"] is NSNull)
    }

    @Test func nestedMappingsListsAndMergeKeysAsYamsReadsThem() throws {
        let text = """
            base: &base
              timeout: 60
              grace: 5.5
            drain:
              <<: *base
              timeout: 30
            both:
              <<: [*base, {extra: yes, timeout: 1}]
            tokens:
              - {token: abc, admin: true}
              - token: "0123"
            """
        let expected = Self.described(try Yams.load(yaml: text) as Any)
        #expect(Self.described(try YAMLDocument.load(text) as Any) == expected)
        let drain = try #require((try YAMLDocument.load(text) as? [String: Any])?["drain"] as? [String: Any])
        #expect(drain["timeout"] as? Int == 30, "the mapping's own key wins over a merged one")
        #expect(drain["grace"] as? Double == 5.5)
    }

    @Test func aTimestampStaysText() throws {
        let document = try #require(try YAMLDocument.load("when: 2020-01-01\n") as? [String: Any])
        #expect(document["when"] as? String == "2020-01-01")
    }

    @Test func invalidYAMLIsAnError() {
        #expect(throws: (any Error).self) { try YAMLDocument.load("key: [unclosed\n") }
    }

    /// A value's type and contents, keys sorted; NaN written as text so it equals itself.
    static func described(_ value: Any) -> String {
        switch value {
        case let boolean as Bool: "bool(\(boolean))"
        case let number as Int: "int(\(number))"
        case let number as Double: "double(\(number))"
        case let text as String: "string(\(text))"
        case is NSNull: "null"
        case let list as [Any]: "[" + list.map(described).joined(separator: ", ") + "]"
        case let mapping as [String: Any]:
            "{" + mapping.sorted { $0.key < $1.key }.map { "\($0.key): \(described($0.value))" }.joined(separator: ", ") + "}"
        case Optional<Any>.none: "nothing"
        case Optional<Any>.some(let wrapped): described(wrapped)
        default: "\(type(of: value))(\(value))"
        }
    }
}
