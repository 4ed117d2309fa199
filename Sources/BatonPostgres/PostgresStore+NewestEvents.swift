import BatonCore
import PostgresNIO

extension PostgresStore {
    /// The newest stored event of each of `sessions` and of each session whose name starts
    /// with one of `prefixes`, in no particular order: what ``ClusterListener`` compares with
    /// what its process published. Each session's newest id is its counter row's, so the
    /// cost is one row per session, however long its history.
    func newestEvents(sessions: Set<String>, sessionsStartingWith prefixes: Set<String>) async throws -> [SessionEvent] {
        var events: [SessionEvent] = []
        if !sessions.isEmpty {
            events += try await newestEvents("\(unescaped: Self.selectNewest) WHERE s.session = ANY(\(Array(sessions)))")
        }
        for prefix in prefixes.sorted() {
            events += try await newestEvents("\(unescaped: Self.selectNewest) WHERE starts_with(s.session, \(prefix))")
        }
        // A session named and matched by a prefix comes twice: once is enough.
        var seen: Set<String> = []
        return events.filter { seen.insert($0.session).inserted }
    }

    private static let selectNewest =
        "SELECT e.session, e.id, e.kind, e.data FROM sessions s JOIN events e ON e.session = s.session AND e.id = s.last_event"

    private func newestEvents(_ query: PostgresQuery) async throws -> [SessionEvent] {
        try await rows(query) { rows in
            var events: [SessionEvent] = []
            for try await (session, id, kind, data) in rows.decode((String, Int64, String, String).self) {
                events.append(SessionEvent(session: session, id: id, kind: SessionEvent.Kind(rawValue: kind) ?? .notice, data: data))
            }
            return events
        }
    }
}
