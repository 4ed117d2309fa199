/// How far an upgrade of the store's layout at start has got: the first start after an
/// upgrade may rewrite a large store, and its supervisor should not take it for hung.
public struct StoreUpgradeProgress: Sendable, Equatable, CustomStringConvertible {
    /// What is being done, as a phrase: "events put in commit order".
    public var step: String
    public var done: Int
    public var total: Int

    public init(step: String, done: Int, total: Int) {
        self.step = step
        self.done = done
        self.total = total
    }

    public var description: String { "Upgrading the store: \(done) of \(total) \(step)" }
}

extension StoreUpgradeProgress {
    /// Runs `chunk` until it copies nothing, telling `progress` how far `step` has got
    /// before each run (nothing when `total` is 0: a new store has nothing to copy).
    /// `chunk` returns how many rows it copied.
    static func copyInChunks(
        _ step: String, total: Int, progress: (StoreUpgradeProgress) -> Void, _ chunk: () throws -> Int
    ) rethrows {
        var done = 0
        while true {
            if total > 0 { progress(StoreUpgradeProgress(step: step, done: done, total: total)) }
            let copied = try chunk()
            guard copied > 0 else { return }
            done += copied
        }
    }
}
