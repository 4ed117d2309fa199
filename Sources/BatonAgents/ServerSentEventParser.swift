/// One event of a `text/event-stream` body.
struct ServerSentEvent: Sendable, Equatable {
    /// The `event:` field; `message` when absent.
    var name = "message"
    /// The `data:` lines, joined with `\n`.
    var data = ""
    /// The `id:` field, if any.
    var id: String?
}

/// Splits a `text/event-stream` body into events as its bytes arrive.
///
/// Follows the HTML event-stream format: `field: value` lines, `:` comments, an event
/// ends at a blank line. An event cut off by the end of the stream is still delivered,
/// since a reply must not lose its last words to a missing blank line.
struct ServerSentEventParser: Sendable {
    private var lines = LineBuffer()
    private var current = ServerSentEvent()
    private var hasData = false

    /// Takes the next bytes; returns the events they complete.
    mutating func consume(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
        lines.append(bytes).compactMap { take(String(decoding: $0, as: UTF8.self)) }
    }

    /// The end of the stream: the last event if it was not ended by a blank line.
    mutating func finish() -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        if let last = lines.finish(), let event = take(String(decoding: last, as: UTF8.self)) { events.append(event) }
        if let event = take("") { events.append(event) }
        return events
    }

    private mutating func take(_ line: String) -> ServerSentEvent? {
        if line.isEmpty {
            defer {
                current = ServerSentEvent()
                hasData = false
            }
            return hasData ? current : nil
        }
        if line.hasPrefix(":") { return nil }
        let field: Substring
        var value: Substring
        if let colon = line.firstIndex(of: ":") {
            field = line[..<colon]
            value = line[line.index(after: colon)...]
            if value.hasPrefix(" ") { value = value.dropFirst() }
        } else {
            field = Substring(line)
            value = ""
        }
        switch field {
        case "event":
            current.name = String(value)
        case "data":
            current.data += hasData ? "\n" + value : String(value)
            hasData = true
        case "id":
            current.id = String(value)
        default:
            break
        }
        return nil
    }
}
