import BatonCore
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Asks the `baton` on disk, the one systemd starts next, whether it would start:
/// `baton check-config` with this process's configuration file and environment, judging
/// the socket this process serves (the next one takes it from the fd store).
///
/// The running binary cannot tell: an upgrade installed meanwhile may know a key it does
/// not, or refuse what it takes. Run before a restart drain begins, so that a restart into
/// a configuration that would exit 78 (and, with `RestartPreventExitStatus=78`, leave
/// nothing serving) is refused while this process keeps serving.
struct NextStartCheck: Sendable {
    /// The binary's path as it is on disk now.
    let executable: String
    let configurationPath: String?
    let environment: [String: String]
    /// The address the next process will serve.
    let listen: ListenAddress
    /// How long the check may take before the restart is refused for it.
    static let timeout: Duration = .seconds(20)

    /// This process's binary: `/proc/self/exe`, less the ` (deleted)` the kernel adds
    /// once a newer file was installed at its path.
    static var runningBinary: String? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        return path.hasSuffix(" (deleted)") ? String(path.dropLast(" (deleted)".count)) : path
    }

    /// Why the next process would not start, in the check's own words; nil when it would.
    func problem() async -> String? {
        var environment = self.environment.filter { key, _ in !key.hasPrefix("LISTEN_") && key != "NOTIFY_SOCKET" && key != "WATCHDOG_USEC" }
        environment["BATON_LISTEN"] = listen.description
        let arguments = ["check-config", "--unit", ""] + (configurationPath.map { ["--config", $0] } ?? [])
        let executable = self.executable
        // Each entry ends in NUL: Subprocess hands raw entries to the kernel as they are.
        let environmentLines = environment.map { Array("\($0.key)=\($0.value)".utf8) + [0] }
        let outcome: String?? = await withTaskGroup(of: String??.self) { group in
            group.addTask {
                do {
                    let result = try await Subprocess.run(
                        .path(FilePath(executable)), arguments: Arguments(arguments),
                        environment: .custom(environmentLines),
                        output: .discarded, error: .string(limit: 16 * 1024))
                    if result.terminationStatus.isSuccess { return .some(nil) }
                    let said = result.standardError.split(separator: "\n").filter { !$0.hasPrefix("baton: warning:") }
                    let told = said.joined(separator: "; ").replacingOccurrences(of: "baton: invalid configuration: ", with: "")
                    return .some(told.isEmpty ? "\(executable) check-config ended with \(result.terminationStatus)" : told)
                } catch {
                    return .some("\(executable) check-config could not be run: \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: Self.timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let outcome else { return "\(executable) check-config did not answer within \(Self.timeout)" }
        return outcome
    }
}
