import CSystemd
import Glibc
import Logging

/// Logs to the systemd journal with every metadata key as a journal field
/// (`baton.session` becomes `BATON_SESSION`), so `journalctl -u baton BATON_SESSION=s1`
/// finds a session's lines. Falls back to standard error if the journal refuses a line.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) {
        self.label = label
    }

    /// Whether standard error goes to the journal (systemd sets `JOURNAL_STREAM`).
    public static func isJournalAvailable(environment: [String: String]) -> Bool {
        environment["JOURNAL_STREAM"].map { !$0.isEmpty } ?? false
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=baton",
            "BATON_LOGGER=\(label)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        for (key, value) in merged {
            fields.append("\(Self.fieldName(key))=\(value)")
        }
        if Self.send(fields) < 0 {
            let line = "\(event.level) \(label): \(merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) \(event.message)\n"
            let bytes = Array(line.utf8)
            _ = bytes.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }

    /// A journal field name: upper case letters, digits and `_`, not starting with `_`.
    static func fieldName(_ key: String) -> String {
        let mapped = key.uppercased().unicodeScalars.map { scalar -> Character in
            ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) ? Character(scalar) : "_"
        }
        let name = String(mapped).drop { $0 == "_" }
        return name.isEmpty ? "BATON_FIELD" : String(name.prefix(64))
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    private static func send(_ fields: [String]) -> Int32 {
        let buffers = fields.map { Array($0.utf8) }
        return withIOVectors(buffers) { vectors in
            sd_journal_sendv(vectors.baseAddress, Int32(vectors.count))
        }
    }

    private static func withIOVectors<Result>(_ buffers: [[UInt8]], _ body: (UnsafeBufferPointer<iovec>) -> Result) -> Result {
        var vectors: [iovec] = []
        vectors.reserveCapacity(buffers.count)
        func build(_ index: Int) -> Result {
            guard index < buffers.count else { return vectors.withUnsafeBufferPointer(body) }
            return buffers[index].withUnsafeBytes { bytes in
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
                return build(index + 1)
            }
        }
        return build(0)
    }
}
