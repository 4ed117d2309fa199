import Foundation
import Glibc

/// A fresh directory under `/tmp`, removed by ``remove()``.
///
/// Kept short: Unix socket paths inside it must stay under 108 bytes.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "baton-test") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        path = String(cString: created)
    }

    /// `path/name`.
    public func appending(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name)
    }

    /// Creates `path/name` (and parents) and returns its path.
    @discardableResult
    public func subdirectory(_ name: String) throws -> String {
        let directory = appending(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Writes `contents` to `path/name`, creating parent directories.
    @discardableResult
    public func write(_ contents: String, to name: String) throws -> String {
        let file = appending(name)
        try FileManager.default.createDirectory(
            atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The text of `path/name`, or "" when it does not exist.
    public func read(_ name: String) -> String {
        (try? String(contentsOfFile: appending(name), encoding: .utf8)) ?? ""
    }

    /// Removes the directory and everything in it. Processes that have just been killed
    /// may still be closing files in it, so a removal that trips over one is tried again.
    public func remove() {
        for _ in 0..<5 {
            do {
                try FileManager.default.removeItem(atPath: path)
                return
            } catch {
                if !FileManager.default.fileExists(atPath: path) { return }
            }
        }
    }
}
