import Foundation

extension Duration {
    /// The duration in seconds, as the APIs that take a `TimeInterval` want it.
    public var seconds: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}
