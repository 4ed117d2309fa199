import Foundation

/// A request Baton must refuse: malformed at the wire, in its headers or in its body,
/// or a valid message sent the wrong way. Each is answered with a 4xx or a closed
/// connection, and none may store a message.
struct HostileRequest: Sendable, CustomStringConvertible {
    enum Kind: String, CaseIterable, Sendable {
        /// A body that is not JSON, or not a JSON object.
        case badJSON
        /// A JSON object whose fields are wrong.
        case badFields
        /// A body over `limits.max_message_bytes`, often a valid message.
        case tooLarge
        /// One header over the decoder's limit, or too many headers.
        case hugeHeaders
        /// A target of up to hundreds of kilobytes.
        case hugeTarget
        /// A valid message with a method or target that does not take it.
        case wrongMethod
        /// A request line or header line that is not HTTP.
        case brokenSyntax
        /// Contradictory or broken body framing: request smuggling and bad chunks.
        case badFraming
        /// A body that stops short of its announced length.
        case truncatedBody
        /// A bad request delivered in small pieces with pauses.
        case slow
        /// Several bad requests in one write.
        case pipelined
        /// Random bytes.
        case noise
    }

    var kind: Kind
    var detail: String
    var exchange: RawHTTPExchange

    var description: String { "\(kind.rawValue): \(detail)" }

    /// A hostile request of a random kind.
    static func random(using random: inout some RandomNumberGenerator, maxBodyBytes: Int) -> HostileRequest {
        var builder = Builder(maxBodyBytes: maxBodyBytes)
        let kind = Kind.allCases.randomElement(using: &random)!
        let (detail, pieces, pause) = builder.make(kind, using: &random)
        return HostileRequest(kind: kind, detail: detail, exchange: RawHTTPExchange(pieces: pieces, pause: pause))
    }
}

/// Builds the bytes of each kind of ``HostileRequest``.
private struct Builder {
    let maxBodyBytes: Int

    mutating func make(_ kind: HostileRequest.Kind, using random: inout some RandomNumberGenerator) -> (String, [[UInt8]], Duration?) {
        switch kind {
        case .badJSON:
            let (detail, body) = badJSON(using: &random)
            return (detail, [post(body)], nil)
        case .badFields:
            let (detail, body) = badFields(using: &random)
            return (detail, [post(body)], nil)
        case .tooLarge:
            let size = Int.random(in: (maxBodyBytes + 1)...(maxBodyBytes * 3), using: &random)
            let body = message(text: String(repeating: "x", count: size))
            if Bool.random(using: &random) {
                return ("\(body.count)-byte valid message, chunked", [chunked(body, chunkSize: 8192)], nil)
            }
            return ("\(body.count)-byte valid message", [post(body)], nil)
        case .hugeHeaders:
            if Bool.random(using: &random) {
                let size = Int.random(in: 81 * 1024...256 * 1024, using: &random)
                return ("one \(size)-byte header", [post(message(), headers: [("X-Big", String(repeating: "a", count: size))])], nil)
            }
            let count = Int.random(in: 1001...3000, using: &random)
            return ("\(count) headers", [post(message(), headers: (0..<count).map { ("X-H\($0)", "v") })], nil)
        case .hugeTarget:
            let size = Int.random(in: 8 * 1024...512 * 1024, using: &random)
            return ("\(size)-byte target", [request("GET", "/nowhere/" + String(repeating: "a", count: size))], nil)
        case .wrongMethod:
            let (method, target) = [
                ("PUT", "/v1/messages"), ("DELETE", "/v1/messages"), ("PATCH", "/v1/messages"),
                ("GET", "/v1/messages"), ("OPTIONS", "/v1/messages"), ("FOO", "/v1/messages"),
                ("post", "/v1/messages"), ("P0ST", "/v1/messages"), ("POST", "/v1/status"), ("POST", "/healthz"),
                ("POST", "/v1/sessions/s"), ("POST", "/metrics"), ("POST", "/"), ("POST", "/v1/messagesX"),
            ].randomElement(using: &random)!
            return ("\(method) \(target) with a valid message", [request(method, target, body: message())], nil)
        case .brokenSyntax:
            let (detail, bytes) = brokenSyntax(using: &random)
            return (detail, [bytes], nil)
        case .badFraming:
            let (detail, bytes) = badFraming(using: &random)
            return (detail, [bytes], nil)
        case .truncatedBody:
            let body = message()
            let sent = Int.random(in: 0..<body.count, using: &random)
            if Bool.random(using: &random) {
                let head = Array("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
                let chunk = Array(String(body.count, radix: 16).utf8) + Array("\r\n".utf8) + body + Array("\r\n".utf8)
                return ("chunked body without its last chunk", [head + chunk], nil)
            }
            // The whole valid message may arrive, but not the announced length.
            let announced = body.count + Int.random(in: 1...100, using: &random)
            return ("\(min(sent + 10, body.count)) of \(announced) bytes", [post(Array(body.prefix(sent + 10)), contentLength: announced)], nil)
        case .slow:
            let (detail, body) = badJSON(using: &random)
            let bytes = post(body)
            let count = Int.random(in: 2...6, using: &random)
            let size = max(1, bytes.count / count)
            let pieces = stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min($0 + size, bytes.count)]) }
            return ("\(pieces.count) pieces of \(detail)", pieces, .milliseconds(Int.random(in: 1...5, using: &random)))
        case .pipelined:
            let count = Int.random(in: 2...4, using: &random)
            var bytes: [UInt8] = []
            for _ in 0..<count {
                bytes += post(Bool.random(using: &random) ? badJSON(using: &random).1 : badFields(using: &random).1)
            }
            return ("\(count) bad requests in one write", [bytes], nil)
        case .noise:
            let count = Int.random(in: 1...4096, using: &random)
            return ("\(count) random bytes", [(0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }], nil)
        }
    }

    // MARK: Bodies

    /// A valid message: refused only for how it is sent.
    func message(text: String = "hostile") -> [UInt8] {
        Array(#"{"session":"hostile","user":"mallory","text":"\#(text)"}"#.utf8)
    }

    func badJSON(using random: inout some RandomNumberGenerator) -> (String, [UInt8]) {
        let valid = message()
        switch Int.random(in: 0..<9, using: &random) {
        case 0:
            // Not starting with "{" or white space, so never a JSON object.
            let count = Int.random(in: 1...512, using: &random)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
            if [UInt8(ascii: "{"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[0]) { bytes[0] = UInt8(ascii: "#") }
            return ("\(count) random bytes", bytes)
        case 1:
            let cut = Int.random(in: 1..<valid.count, using: &random)
            return ("message cut at \(cut)", Array(valid.prefix(cut)))
        case 2:
            let depth = Int.random(in: 500...30000, using: &random)
            return ("arrays nested \(depth) deep", Array(repeating: UInt8(ascii: "["), count: depth) + Array(repeating: UInt8(ascii: "]"), count: depth))
        case 3:
            let depth = Int.random(in: 500...9000, using: &random)
            return ("objects nested \(depth) deep", Array(String(repeating: #"{"a":"#, count: depth).utf8) + [UInt8(ascii: "1")] + Array(repeating: UInt8(ascii: "}"), count: depth))
        case 4:
            return ("message with trailing garbage", valid + Array(["x", "}", "{}", ",", "\0"].randomElement(using: &random)!.utf8))
        case 5:
            return ("invalid UTF-8 in a string", Array(#"{"session":"s"#.utf8) + [0xFF, 0xC0] + Array(#"","user":"u","text":"t"}"#.utf8))
        case 6:
            let utf16 = Array(#"{"session":"s","user":"u","text":"t"}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
            return ("UTF-16 message with BOM", [0xFF, 0xFE] + utf16)
        case 7:
            let body = [
                #"{'session':'s','user':'u','text':'t'}"#, #"{session:"s",user:"u",text:"t"}"#,
                #"{"session":"s","user":"u","text":"t",}"#, #"{"session":"s","user":"u","text":NaN}"#,
                #"{"session":"s","user":"u","text":"t"} // comment"#, #"{"session":"s","user":"u","text":"\x41"}"#,
                #"{"session":"s","user":"u","text":"\ud800"}"#, "null", "[]", #""text""#, "1e999",
            ].randomElement(using: &random)!
            return ("not JSON: \(body)", Array(body.utf8))
        default:
            return ("empty body", [])
        }
    }

    func badFields(using random: inout some RandomNumberGenerator) -> (String, [UInt8]) {
        let long = String(repeating: "s", count: Int.random(in: 201...2000, using: &random))
        let body = [
            #"{"user":"u","text":"t"}"#, #"{"session":"s","text":"t"}"#, #"{"session":"s","user":"u"}"#,
            #"{"session":null,"user":"u","text":"t"}"#, #"{"session":"s","user":"u","text":null}"#,
            #"{"session":1,"user":"u","text":"t"}"#, #"{"session":"s","user":true,"text":"t"}"#,
            #"{"session":"s","user":"u","text":["t"]}"#, #"{"session":{"a":1},"user":"u","text":"t"}"#,
            #"{"session":"","user":"u","text":"t"}"#, #"{"session":"s","user":"","text":"t"}"#,
            #"{"session":"s","user":"u","text":""}"#, #"{"session":"s","user":"u","text":" \n\t "}"#,
            #"{"session":"a/b","user":"u","text":"t"}"#, #"{"session":"../../etc","user":"u","text":"t"}"#,
            #"{"session":"s\u0000","user":"u","text":"t"}"#, #"{"session":"s","user":"u\u001b[31m","text":"t"}"#,
            #"{"session":"s\r\nX-Injected: 1","user":"u","text":"t"}"#, #"{"session":"s","user":"u","text":"t","id":7}"#,
            #"{"session":"s","user":"u","text":"t","id":""}"#, #"{"session":"s","user":"u","text":"t","id":"a\nb"}"#,
            #"{"session":"\#(long)","user":"u","text":"t"}"#, #"{"session":"s","user":"\#(long)","text":"t"}"#,
            #"{"session":"s","user":"u","text":"t","id":"\#(long)"}"#,
        ].randomElement(using: &random)!
        return ("fields: \(body.prefix(80))", Array(body.utf8))
    }

    // MARK: Wire

    func brokenSyntax(using random: inout some RandomNumberGenerator) -> (String, [UInt8]) {
        let body = String(decoding: message(), as: UTF8.self)
        let length = message().count
        let text = [
            "GET\r\n\r\n", "GET /healthz\r\n\r\n", "GET /healthz HTTP/9.9\r\n\r\n", "GET /healthz HTTX/1.1\r\n\r\n",
            "GET /healthz HTTP/1.1 extra\r\n\r\n", " GET /healthz HTTP/1.1\r\n\r\n", "\r\n\r\n\r\n\r\n",
            "G\u{0}T /healthz HTTP/1.1\r\n\r\n", "GET /heal\u{0}thz HTTP/1.1\r\n\r\n", "GET /health z HTTP/1.1\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nNo colon here\r\nContent-Length: \(length)\r\n\r\n\(body)",
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: x\r\nContent-Length: \(length)\r\n\r\n\(body)",
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX: a\u{0}b\r\nContent-Length: \(length)\r\n\r\n\(body)",
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n folded\r\nContent-Length: \(length)\r\n\r\n\(body)",
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n: empty-name\r\nContent-Length: \(length)\r\n\r\n\(body)",
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \(length)\r\r\n\(body)",
        ].randomElement(using: &random)!
        return ("syntax: \(text.prefix(60).debugDescription)", Array(text.utf8))
    }

    func badFraming(using random: inout some RandomNumberGenerator) -> (String, [UInt8]) {
        let body = String(decoding: message(), as: UTF8.self)
        let length = message().count
        let chunk = String(length, radix: 16)
        let head = "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        let text = [
            // Smuggling: two framings at once; either one alone would carry a valid message.
            "\(head)Content-Length: \(length)\r\nTransfer-Encoding: chunked\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n",
            "\(head)Transfer-Encoding: chunked\r\nContent-Length: \(length)\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n",
            "\(head)Content-Length: \(length)\r\nContent-Length: \(length + 1)\r\n\r\n\(body)x",
            "\(head)Content-Length: \(length), \(length + 1)\r\n\r\n\(body)x",
            "\(head)Content-Length: -\(length)\r\n\r\n\(body)",
            "\(head)Content-Length: abc\r\n\r\n\(body)",
            "\(head)Content-Length: 99999999999999999999999\r\n\r\n\(body)",
            "\(head)Transfer-Encoding: chunked\r\n\r\nzz\r\n\(body)\r\n0\r\n\r\n",
            "\(head)Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n\(body)\r\n0\r\n\r\n",
            "\(head)Transfer-Encoding: chunked\r\n\r\n\(chunk)\r\n\(body)XX0\r\n\r\n",
            "\(head)Transfer-Encoding: gzip, chunked\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n",
            "\(head)Transfer-Encoding: chunked, identity\r\n\r\n\(chunk)\r\n\(body)\r\n0\r\n\r\n",
            "\(head)Transfer-Encoding: xchunked\r\nContent-Length: \(length)\r\n\r\n\(body)",
        ].randomElement(using: &random)!
        return ("framing: \(text.dropFirst(head.count).prefix(60).debugDescription)", Array(text.utf8))
    }

    func post(_ body: [UInt8], contentLength: Int? = nil, headers: [(String, String)] = []) -> [UInt8] {
        request("POST", "/v1/messages", body: body, contentLength: contentLength, headers: headers)
    }

    func request(_ method: String, _ target: String, body: [UInt8] = [], contentLength: Int? = nil, headers: [(String, String)] = []) -> [UInt8] {
        var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(contentLength ?? body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }

    func chunked(_ body: [UInt8], chunkSize: Int) -> [UInt8] {
        var bytes = Array("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
        for start in stride(from: 0, to: body.count, by: chunkSize) {
            let chunk = body[start..<min(start + chunkSize, body.count)]
            bytes += Array("\(String(chunk.count, radix: 16))\r\n".utf8) + chunk + Array("\r\n".utf8)
        }
        return bytes + Array("0\r\n\r\n".utf8)
    }
}
