import BatonCore

/// What one process tells the others on the `baton` channel (PostgreSQL `NOTIFY`), sent
/// with the commit that caused it (by `baton_commit`, see ``PostgresBatch``, and by a
/// lease's release).
///
/// Payloads are short text: `e <instance> <first> <last> <session>` (the session has new
/// events with these ids), `m <instance> <session>` (a message for the session was
/// stored), `r <instance> <session>` (a process let go of the session's lease).
enum ClusterNotification: Equatable, Sendable {
    case events(session: String, first: Int64, last: Int64)
    case message(session: String)
    case released(session: String)

    /// Parses a payload; nil for one sent by `instance` itself or one it does not know.
    init?(payload: String, skipping instance: String) {
        let parts = payload.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1] != instance else { return nil }
        let rest = String(parts[2])
        switch parts[0] {
        case "e":
            let fields = rest.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, let first = Int64(fields[0]), let last = Int64(fields[1]) else { return nil }
            self = .events(session: String(fields[2]), first: first, last: last)
        case "m": self = .message(session: rest)
        case "r": self = .released(session: rest)
        default: return nil
        }
    }

    static func releasedPayload(instance: String, session: String) -> String { "r \(instance) \(session)" }
}
