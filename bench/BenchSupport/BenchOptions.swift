import Foundation

/// A benchmark's `--name value` options: positive numbers with defaults, and named
/// strings. Anything else stops the program with exit 64, naming the option.
public struct BenchOptions {
    public private(set) var numbers: [String: Int]
    public private(set) var strings: [String: String] = [:]

    /// Reads the command line; `numbers` holds every numeric option with its default,
    /// `strings` names the options that take text.
    public init(tool: String, numbers: [String: Int], strings: Set<String> = []) {
        self.numbers = numbers
        var arguments = CommandLine.arguments.dropFirst()
        while let name = arguments.popFirst() {
            guard let value = arguments.popFirst() else { Self.fail(tool, "\(name) needs a value") }
            if strings.contains(name) {
                self.strings[name] = value
            } else if numbers[name] != nil, let number = Int(value), number > 0 {
                self.numbers[name] = number
            } else {
                Self.fail(tool, "unknown option or bad value: \(name) \(value)")
            }
        }
    }

    public subscript(number name: String) -> Int { numbers[name]! }

    private static func fail(_ tool: String, _ problem: String) -> Never {
        FileHandle.standardError.write(Data("\(tool): \(problem)\n".utf8))
        exit(64)
    }
}
