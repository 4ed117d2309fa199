import BatonTestSupport
import Foundation
import Glibc
import Testing

/// The web page in a real headless Chromium against the real binary.
///
/// `Tests/Browser/page_test.py` drives Chromium with Selenium and starts (and restarts)
/// `baton serve` itself; `scripts/browser-setup.sh` installs what it needs, and
/// `scripts/test.sh` runs that first. Without it the test is skipped, except under CI.
@Suite struct BrowserTests {
    static let python = (BatonBinary.repositoryRoot as NSString).appendingPathComponent(".venv-test/bin/python")
    static let script = (BatonBinary.repositoryRoot as NSString).appendingPathComponent("Tests/Browser/page_test.py")
    static var isSetUp: Bool {
        FileManager.default.isExecutableFile(atPath: python) && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
    }
    static var required: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false }

    @Test(.enabled(if: isSetUp || required, "needs scripts/browser-setup.sh (chromium, chromium-driver, Selenium in .venv-test/)"))
    func thePageChatsAndCarriesOnAcrossARestartInARealBrowser() async throws {
        let directory = try TemporaryDirectory(prefix: "baton-browser-run")
        defer { directory.remove() }
        let log = directory.appending("page_test.log")
        let process = try ChildProcess(
            Self.python, arguments: [Self.script],
            environment: ProcessInfo.cleanEnvironment.merging(["BATON_BINARY": try BatonBinary.path()]) { $1 },
            directory: BatonBinary.repositoryRoot, outputPath: log, errorPath: log)
        let ended: Termination
        do {
            ended = try await process.exit(within: .seconds(600))
        } catch {
            // Its process group: Chromium, chromedriver and baton with it.
            kill(-process.pid, SIGKILL)
            await process.kill()
            throw error
        }
        let output = directory.read("page_test.log")
        // The screenshots' folder and each scenario's outcome, also when it passed.
        print(output.split(separator: "\n").filter { $0.hasPrefix("browser: ") }.joined(separator: "\n"))
        #expect(ended == .exited(0), "Tests/Browser/page_test.py failed:\n\(output)")
    }
}
