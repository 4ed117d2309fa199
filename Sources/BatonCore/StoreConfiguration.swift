/// `store.*`: where Baton keeps its state.
public struct StoreConfiguration: Sendable, Equatable {
    /// Empty: SQLite under `state_directory`, for one process. `postgres://…`: a PostgreSQL
    /// database several processes share.
    public var url: String
    /// Seconds a process's claim on a session lasts without renewal (PostgreSQL only).
    public var lease: Double
    /// Days finished messages and their events are kept; 0 keeps everything. Fractions
    /// are allowed (a benchmark ages its history in minutes).
    public var retention: Double

    public init(url: String = "", lease: Double = 10, retention: Double = 30) {
        self.url = url
        self.lease = lease
        self.retention = retention
    }

    /// Whether other processes may share the store.
    public var isShared: Bool { !url.isEmpty }

    /// How long finished history is kept; nil when it is kept forever.
    public var retentionPeriod: Duration? {
        retention > 0 ? .milliseconds(Int64((retention * 86_400_000).rounded())) : nil
    }
}
