import BatonCore
import Foundation

/// Checks a `POST /v1/messages` body and names the first thing wrong with it.
struct MessageRequestParser {
    /// Longest session, user or id, in bytes.
    static let maxIdentifierBytes = 200

    let maxBodyBytes: Int

    func parse(_ body: [UInt8]) throws(APIError) -> IncomingMessage {
        guard body.count <= maxBodyBytes else {
            throw APIError(.contentTooLarge, "body is \(body.count) bytes, over limits.max_message_bytes (\(maxBodyBytes))")
        }
        guard !body.isEmpty else { throw APIError(.badRequest, "body is empty; expected a JSON object") }
        // Checked in place: a `String` made to check it would copy the whole body.
        guard (try? UTF8Span(validating: body.span)) != nil else {
            throw APIError(.badRequest, "body is not valid UTF-8")
        }
        let fields: Fields
        if let members = FlatJSONObject.read(body) {
            fields = .flat(members)
        } else {
            fields = .parsed(try Self.parsedBySerialization(body))
        }
        let session = try identifier("session", in: fields)
        guard !session.utf8.contains(UInt8(ascii: "/")) else { throw APIError(.badRequest, "field \"session\" must not contain \"/\"") }
        let user = try identifier("user", in: fields)
        let text = try string("text", in: fields)
        guard !text.isBlank else {
            throw APIError(.badRequest, "field \"text\" must not be empty")
        }
        guard !text.utf8.contains(0) else {
            throw APIError(.badRequest, "field \"text\" must not contain U+0000 (NUL)")
        }
        let id = fields["id"] == .null ? nil : try identifier("id", in: fields)
        return IncomingMessage(id: id, session: session, user: user, text: text)
    }

    /// A member of the body's object, as far as the checks care.
    enum Field: Equatable {
        case string(String)
        case null
        /// A number, a Boolean, an array or an object.
        case other
    }

    /// The body's members: ``FlatJSONObject``'s as they are (no copy), or Foundation's
    /// parse of a body it leaves. A missing member reads as null.
    enum Fields {
        case flat(FlatJSONObject.Members)
        case parsed([String: Field])

        subscript(name: String) -> Field {
            switch self {
            case .flat(let members): members[name].map { value in value.map(Field.string) ?? .null } ?? .null
            case .parsed(let fields): fields[name, default: .null]
            }
        }
    }

    /// Any body `FlatJSONObject` leaves: JSON it does not read, and every malformed body.
    private static func parsedBySerialization(_ body: [UInt8]) throws(APIError) -> [String: Field] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(body))
        } catch {
            throw APIError(.badRequest, "body is not valid JSON")
        }
        guard !hasTrailingComma(body) else {
            throw APIError(.badRequest, "body is not valid JSON: a comma before } or ]")
        }
        guard let members = object as? [String: Any] else {
            throw APIError(.badRequest, "body must be a JSON object with session, user and text")
        }
        return members.mapValues { value in
            if let string = value as? String { return .string(string) }
            return value is NSNull ? .null : .other
        }
    }

    /// Whether a `,` outside strings is followed, after white space, by `}` or `]`.
    ///
    /// Foundation's parser on Linux accepts `{"text": "hi",}`; JSON (RFC 8259) does not,
    /// and Baton stores no body that other JSON parsers would refuse. Called on a body
    /// that parsed, so strings and escapes are well formed.
    static func hasTrailingComma(_ body: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        var afterComma = false
        for byte in body {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if afterComma { return true }
            case UInt8(ascii: ","):
                afterComma = true
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                break
            default:
                inString = byte == UInt8(ascii: "\"")
                afterComma = false
            }
        }
        return false
    }

    private func string(_ name: String, in fields: Fields) throws(APIError) -> String {
        switch fields[name] {
        case .null: throw APIError(.badRequest, "missing field \"\(name)\"")
        case .other: throw APIError(.badRequest, "field \"\(name)\" must be a string")
        case .string(let string): return string
        }
    }

    private func identifier(_ name: String, in fields: Fields) throws(APIError) -> String {
        let value = try string(name, in: fields)
        guard !value.isEmpty else { throw APIError(.badRequest, "field \"\(name)\" must not be empty") }
        guard value.utf8.count <= Self.maxIdentifierBytes else {
            throw APIError(.badRequest, "field \"\(name)\" is longer than \(Self.maxIdentifierBytes) bytes")
        }
        // The control characters (category Cc) are exactly U+0000–U+001F and U+007F–U+009F.
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw APIError(.badRequest, "field \"\(name)\" must not contain control characters")
        }
        return value
    }
}
