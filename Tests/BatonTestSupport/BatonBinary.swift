import Foundation

/// Where the built `baton` executable and the repository are.
public enum BatonBinary {
    /// The repository root, from this file's place in `Tests/BatonTestSupport/`.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The `baton` executable the tests run: `BATON_BINARY` if set, else the one built
    /// beside the test bundle (`swift build --build-tests` builds both), else
    /// `.build/debug/baton` in the repository.
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let explicit = environment["BATON_BINARY"], !explicit.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw NotFound(description: "BATON_BINARY=\(explicit) is not an executable file")
            }
            return explicit
        }
        var candidates: [String] = []
        if let testExecutable = CommandLine.arguments.first, testExecutable.hasPrefix("/") {
            // .build/<triple>/debug/BatonPackageTests.xctest: baton sits beside it.
            candidates.append(URL(fileURLWithPath: testExecutable).deletingLastPathComponent().appendingPathComponent("baton").path)
        }
        candidates.append((repositoryRoot as NSString).appendingPathComponent(".build/debug/baton"))
        guard let found = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
            throw NotFound(
                description: "no baton executable at \(candidates.joined(separator: " or ")); run `swift build --build-tests` first")
        }
        return found
    }

    public struct NotFound: Error, CustomStringConvertible {
        public let description: String
    }
}
