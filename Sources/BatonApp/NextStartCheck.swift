import BatonCore
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Whether the next process, started from the `baton` on disk with this process's
/// configuration file and environment, would start: run before a restart drain begins,
/// so that a restart into a configuration that would exit 78 (and, with
/// `RestartPreventExitStatus=78`, leave nothing serving) is refused while this process
/// keeps serving. The socket judged is the one this process serves: the next one takes
/// it from the fd store.
///
/// While the binary on disk is this process's own, the check runs here, in a millisecond
/// (``StartCheck``, on the configuration read again). Once an upgrade was installed at its
/// path, that binary is asked (`baton check-config`): this one cannot tell what it would
/// make of a key it does not know, or what it now refuses.
struct NextStartCheck: Sendable {
    let configurationPath: String?
    let environment: [String: String]
    /// The address the next process will serve, and where it came from (for the message).
    let listen: ListenAddress
    let origin: String
    /// How long an upgrade's check may take before the restart is refused for it.
    static let timeout: Duration = .seconds(20)
    private static let replaced = " (deleted)"

    /// This process's binary, now: `/proc/self/exe` (ending ` (deleted)` once a newer file
    /// was installed at its path).
    static var runningBinary: String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }

    /// Why the next process would not start; nil when it would.
    func problem() async -> String? {
        guard let running = Self.runningBinary, running.hasSuffix(Self.replaced) else {
            do throws(ConfigurationError) {
                let configuration = try ConfigurationLoader(environment: environment).load(path: configurationPath)
                try StartCheck.check(configuration, listeningOn: listen, origin: origin)
                return nil
            } catch {
                return error.description
            }
        }
        return await upgradeProblem(executable: String(running.dropLast(Self.replaced.count)))
    }

    /// Why the binary installed at `executable` would not start, in its own words.
    private func upgradeProblem(executable: String) async -> String? {
        var environment = self.environment.filter { key, _ in !key.hasPrefix("LISTEN_") && key != "NOTIFY_SOCKET" && key != "WATCHDOG_USEC" }
        environment["BATON_LISTEN"] = listen.description
        let arguments = ["check-config", "--unit", ""] + (configurationPath.map { ["--config", $0] } ?? [])
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
