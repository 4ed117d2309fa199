import Foundation
import Glibc

/// The process's limit on open descriptors (`RLIMIT_NOFILE`), which bounds its connections.
///
/// A process starts with the soft limit it was given, 1024 unless raised, while the hard
/// limit is usually far higher (524288 under systemd). Like Go's runtime and nginx, Baton
/// raises the soft limit to the hard one at start, so that a flood of connections meets
/// `limits.max_connections` rather than failing accepts.
public struct DescriptorLimit: Sendable, Equatable {
    public var soft: Int
    public var hard: Int

    /// Descriptors kept for everything but chat connections: the store (a writer and its
    /// readers, each with the database and its WAL and shared-memory files), listeners,
    /// the control socket and its clients, event loops, the journal, the notify socket.
    static let baseReserve = 64
    /// Descriptors kept per turn that may run at once (`agent.max_concurrent_turns`): an
    /// exec agent's pipes for standard input, output and error, or an HTTP agent's connection.
    static let reservePerTurn = 4
    /// The most connections a derived maximum allows, whatever the descriptor limit:
    /// keeps a flood's memory bounded (an idle connection costs some kilobytes).
    static let derivedCeiling = 65536

    /// The limit now.
    public static func current() -> DescriptorLimit {
        var limit = rlimit()
        getrlimit(RLIMIT_NOFILE_ID, &limit)
        return DescriptorLimit(soft: clamp(limit.rlim_cur), hard: clamp(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one; returns the limit before and after.
    @discardableResult
    public static func raiseSoftLimit() -> (before: DescriptorLimit, after: DescriptorLimit) {
        let before = current()
        var limit = rlimit()
        getrlimit(RLIMIT_NOFILE_ID, &limit)
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            // An unlimited hard limit cannot be the soft one (the kernel's nr_open caps it).
            if setrlimit(RLIMIT_NOFILE_ID, &raised) != 0, limit.rlim_max == rlim_t.max,
                let nrOpen = Self.kernelMaximum()
            {
                raised.rlim_cur = rlim_t(nrOpen)
                _ = setrlimit(RLIMIT_NOFILE_ID, &raised)
            }
        }
        return (before, current())
    }

    /// `limits.max_connections` when it is 0: the soft limit less what everything else
    /// needs (64, and 4 for each turn that may run at once), at least 16, at most 65536.
    public func derivedMaxConnections(maxConcurrentTurns: Int) -> Int {
        min(max(connectionRoom(maxConcurrentTurns: maxConcurrentTurns), 16), Self.derivedCeiling)
    }

    /// Descriptors left for connections once everything else has what it needs.
    public func connectionRoom(maxConcurrentTurns: Int) -> Int {
        soft - Self.baseReserve - Self.reservePerTurn * maxConcurrentTurns
    }

    private static func clamp(_ value: rlim_t) -> Int {
        value >= rlim_t(Int.max) ? Int.max : Int(value)
    }

    /// The kernel's ceiling on any process's descriptor limit (`fs.nr_open`).
    private static func kernelMaximum() -> Int? {
        (try? String(contentsOfFile: "/proc/sys/fs/nr_open", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    private static let RLIMIT_NOFILE_ID = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
}
