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
