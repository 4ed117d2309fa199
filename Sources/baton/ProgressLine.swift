import Foundation
import Glibc

/// Shows progress as one line rewritten in place on a terminal, or as plain lines
/// (each printed once) otherwise.
final class ProgressLine {
    private let isTerminal = isatty(STDOUT_FILENO) == 1
    private var last: String?

    func show(_ text: String) {
        guard text != last else { return }
        last = text
        if isTerminal {
            FileHandle.standardOutput.write(Data("\r\u{1B}[K\(text)".utf8))
        } else {
            FileHandle.standardOutput.write(Data("\(text)\n".utf8))
        }
    }

    /// A line that stays, above the progress line.
    func note(_ text: String) {
        if isTerminal, last != nil { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        FileHandle.standardOutput.write(Data("\(text)\n".utf8))
        if isTerminal, let last { FileHandle.standardOutput.write(Data(last.utf8)) }
    }

    func finish() {
        if isTerminal, last != nil { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }
}
