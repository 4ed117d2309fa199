import Foundation

/// One Server-Sent Event as Baton sends it: `id:` (absent on `goodbye`), `event:`, `data:`.
public struct ServerSentEvent: Sendable, Equatable, CustomStringConvertible {
    public var id: Int64?
    public var event: String
    public var data: String

    public init(id: Int64?, event: String, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }

    /// `data` decoded; nil when it is not Baton's JSON.
    public var payload: EventPayload? {
        try? WireJSON.decoder().decode(EventPayload.self, from: Data(data.utf8))
    }

    public var isReply: Bool { event == "reply" }
    public var isGoodbye: Bool { event == "goodbye" }

    /// A `notice` of this kind.
    public func isNotice(_ kind: String) -> Bool { event == "notice" && payload?.kind == kind }

    public var description: String { "\(id.map(String.init) ?? "-") \(event) \(data)" }
}

/// Splits an SSE byte stream into events (the `text/event-stream` framing rules Baton needs:
/// `\n` or `\r\n` line ends, a blank line ends an event, comments and `retry:` ignored).
public struct ServerSentEventParser: Sendable {
    private var pending: [UInt8] = []
    private var id: Int64?
    private var event: String?
    private var data: [String] = []

    public init() {}

    /// Feeds bytes; returns the events they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
        pending.append(contentsOf: bytes)
        var events: [ServerSentEvent] = []
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            var line = pending[..<newline]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            let text = String(decoding: line, as: UTF8.self)
            pending.removeSubrange(...newline)
            if let event = take(line: text) { events.append(event) }
        }
        return events
    }

    private mutating func take(line: String) -> ServerSentEvent? {
        if line.isEmpty {
            defer { (id, event, data) = (nil, nil, []) }
            guard event != nil || !data.isEmpty else { return nil }
            return ServerSentEvent(id: id, event: event ?? "message", data: data.joined(separator: "\n"))
        }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = line[...]
            value = ""
        }
        switch field {
        case "id": id = Int64(value)
        case "event": event = String(value)
        case "data": data.append(String(value))
        default: break
        }
        return nil
    }
}
