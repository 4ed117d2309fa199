/// A configuration value Baton cannot use; names where it came from, the key and why.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file path, or `environment BATON_…` for an override.
    public let source: String
    /// The key path as written in the file (`drain.timeout`).
    public let key: String
    /// What is wrong, in words a person can act on.
    public let problem: String

    public init(source: String, key: String, problem: String) {
        self.source = source
        self.key = key
        self.problem = problem
    }

    public var description: String { "\(source): \(key): \(problem)" }
}
