/// `store.*`: where Baton keeps its state.
public struct StoreConfiguration: Sendable, Equatable {
    /// Empty: SQLite under `state_directory`, for one process. `postgres://…`: a PostgreSQL
    /// database several processes share.
    public var url: String
    /// Seconds a process's claim on a session lasts without renewal (PostgreSQL only).
    public var lease: Double

    public init(url: String = "", lease: Double = 10) {
        self.url = url
        self.lease = lease
    }

    /// Whether other processes may share the store.
    public var isShared: Bool { !url.isEmpty }
}
