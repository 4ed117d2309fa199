import BatonCore

/// What one process tells the others on the `baton` channel (PostgreSQL `NOTIFY`), sent
/// with the commit that caused it.
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

    /// What one commit added, gathered into its notifications.
    struct Batch {
        let instance: String
        private var eventRanges: [String: (first: Int64, last: Int64)] = [:]
        private var messageSessions: Set<String> = []

        init(instance: String) { self.instance = instance }

        mutating func eventAdded(_ event: SessionEvent) {
            let range = eventRanges[event.session]
            eventRanges[event.session] = (min(range?.first ?? event.id, event.id), max(range?.last ?? event.id, event.id))
        }

        mutating func messageAdded(in session: String) { messageSessions.insert(session) }

        mutating func merge(_ other: Batch) {
            for (session, range) in other.eventRanges {
                eventRanges[session] = (
                    min(eventRanges[session]?.first ?? range.first, range.first), max(eventRanges[session]?.last ?? range.last, range.last)
                )
            }
            messageSessions.formUnion(other.messageSessions)
        }

        /// Events first: a process that hears of a message may read the session's events.
        var payloads: [String] {
            eventRanges.sorted { $0.key < $1.key }.map { "e \(instance) \($0.value.first) \($0.value.last) \($0.key)" }
                + messageSessions.sorted().map { "m \(instance) \($0)" }
        }
    }
}
