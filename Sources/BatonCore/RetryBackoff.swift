/// Exponential backoff with jitter, as a pure value: how long to wait before retry `n`.
///
/// The delay doubles from `initial` up to `maximum`; each wait is drawn from the upper
/// half of it, so many clients retrying together spread out.
public struct RetryBackoff: Sendable, Equatable {
    public var initial: Duration
    public var maximum: Duration
    /// Failures in a row so far.
    public private(set) var failures = 0

    public init(initial: Duration = .milliseconds(500), maximum: Duration = .seconds(60)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// Records a failure and returns how long to wait; `hint` (a server's `retry_after`)
    /// wins when it is longer.
    public mutating func failed(hint: Duration? = nil, using generator: inout some RandomNumberGenerator) -> Duration {
        failures += 1
        let doubled = initial * Double(1 << min(failures - 1, 30))
        let ceiling = min(doubled, maximum)
        let jittered = ceiling * Double.random(in: 0.5...1.0, using: &generator)
        guard let hint else { return jittered }
        return max(hint, jittered)
    }

    /// Records a failure with the system's random numbers.
    public mutating func failed(hint: Duration? = nil) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return failed(hint: hint, using: &generator)
    }

    /// A success: the next failure waits `initial` again.
    public mutating func succeeded() {
        failures = 0
    }
}
