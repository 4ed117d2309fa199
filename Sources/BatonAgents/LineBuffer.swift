/// Splits a byte stream into lines as it arrives.
///
/// Lines end with `\n`; a `\r` before it is dropped too. Bytes after the last `\n` wait
/// for more input, or for ``finish()`` at the end of the stream.
struct LineBuffer: Sendable {
    private var pending: [UInt8] = []

    /// Bytes of the line not yet complete.
    var pendingCount: Int { pending.count }

    /// Adds bytes; returns the lines they complete, without their line ends.
    mutating func append(_ bytes: some Sequence<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                lines.append(pending)
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return lines
    }

    /// The end of the stream: the last line if it had no line end.
    mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
        return pending.isEmpty ? nil : pending
    }
}
