import BatonCore

/// Turns what an exec agent writes to its standard output into replies.
///
/// The first non-blank line decides the format. When it is a JSON object with a string
/// `text`, the output is JSON lines: every line is one reply, sent as soon as the line is
/// complete; blank lines are skipped and a line that is not such an object is sent as it
/// is. Otherwise the whole output is plain text and becomes one reply once the process
/// has exited successfully.
///
/// At most `limit` bytes in all, whatever the format: an agent that writes on and on
/// fails its turn there, rather than filling the store and every stream with replies.
///
/// A pure state machine: it is given bytes and answers with the replies they complete.
struct ExecOutputParser: Sendable {
    enum Format: Sendable, Equatable {
        case undecided, jsonLines, plainText
    }

    private(set) var format = Format.undecided
    private var lines = LineBuffer()
    /// Everything written so far while the output may still be plain text.
    private var raw: [UInt8] = []
    /// Bytes taken in all.
    private var received = 0
    let limit: Int

    init(limit: Int = ReplyText.maxBytes) {
        self.limit = limit
    }

    /// Why the output went past `limit`, once it did: the replies completed before that
    /// point were returned, and nothing after it is taken.
    private(set) var overflow: AgentError?

    /// Takes the next bytes of standard output; returns the replies ready now. Bytes past
    /// `limit` are not taken: the replies completed before them are returned, and
    /// ``overflow`` says the turn fails there (thrown at once when there are none).
    mutating func consume(_ bytes: some Collection<UInt8>) throws(AgentError) -> [String] {
        if let overflow { throw overflow }
        guard received + bytes.count <= limit else {
            let replies = try take(bytes.prefix(limit - received))
            overflow = tooLong()
            if replies.isEmpty, let overflow { throw overflow }
            return replies
        }
        return try take(bytes)
    }

    private mutating func take(_ bytes: some Collection<UInt8>) throws(AgentError) -> [String] {
        received += bytes.count
        if format != .jsonLines { raw.append(contentsOf: bytes) }
        guard format != .plainText else { return [] }
        var replies: [String] = []
        for line in lines.append(bytes) {
            if let reply = take(line) { replies.append(reply) }
            if format == .plainText { return [] }
        }
        return replies
    }

    /// The process exited successfully; returns the replies still owed.
    mutating func finish() -> [String] {
        if format != .plainText, let last = lines.finish(), let reply = take(last) {
            return [reply]
        }
        guard format != .jsonLines else { return [] }
        return ReplyText.plain(raw).map { [$0] } ?? []
    }

    private mutating func take(_ line: [UInt8]) -> String? {
        if line.allSatisfy(ReplyText.isWhitespace) { return nil }
        let text = ReplyText.decode(line)
        switch format {
        case .undecided:
            guard let text else {
                format = .plainText
                return nil
            }
            format = .jsonLines
            raw = []
            return text
        case .jsonLines:
            return text ?? String(decoding: line, as: UTF8.self)
        case .plainText:
            return nil
        }
    }

    private func tooLong() -> AgentError {
        guard format == .jsonLines else {
            return AgentError(.agentFailed, "The agent's reply was longer than \(limit / 1024) KiB and was not delivered.")
        }
        return AgentError(.agentFailed, "The agent wrote more than \(limit / 1024) KiB in one turn; what came after that was not delivered.")
    }
}
