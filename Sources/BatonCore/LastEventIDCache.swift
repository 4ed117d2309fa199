/// The last event id committed for the sessions a process wrote to lately.
///
/// Only this process appends events to its SQLite store, so what it committed is the
/// truth. Bounded: when it holds ``capacity`` sessions it starts again empty, and a
/// session it forgot costs one indexed read on its next event. What it holds follows the
/// sessions in use, not the history.
struct LastEventIDCache {
    static let capacity = 50_000

    private(set) var ids: [String: Int64] = [:]

    /// Takes the ids a committed transaction assigned.
    mutating func remember(_ assigned: [String: Int64]) {
        if ids.count + assigned.count > Self.capacity { ids = [:] }
        ids.merge(assigned) { max($0, $1) }
    }
}
