import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import Testing

@Suite struct UnitFileTests {
    @Test func theShippedUnitIsTheOneBatonUnitsPrintsForTheDefaults() throws {
        let shipped = try String(contentsOfFile: BatonBinary.repositoryRoot + "/units/baton.service", encoding: .utf8)
        #expect(shipped == UnitFile.service(for: Configuration()))
    }

    @Test func theStopTimeoutCoversTheDrainAndItsGrace() {
        var configuration = Configuration()
        configuration.drain = DrainConfiguration(timeout: 120, interruptGrace: 10)
        let unit = UnitFile.service(for: configuration)
        #expect(unit.contains("TimeoutStopSec=145\n"))
        for line in ["Type=notify", "ExecReload=/bin/kill -USR1 $MAINPID", "RestartForceExitStatus=75", "SuccessExitStatus=75", "RestartPreventExitStatus=78", "Restart=on-failure", "StateDirectory=baton", "RuntimeDirectory=baton", "RuntimeDirectoryPreserve=yes"] {
            #expect(unit.contains(line + "\n"), "\(line)")
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"), "needs systemd-analyze"))
    func theUnitIsHardenedToAnExposureOf2OrLessAndVerifies() async throws {
        let unit = BatonBinary.repositoryRoot + "/units/baton.service"
        let security = try await Self.run(["security", "--offline=yes", "--no-pager", unit])
        let overall = try #require(security.split(separator: "\n").first { $0.contains("Overall exposure level") })
        print("systemd-analyze security units/baton.service: \(overall)")
        let score = try #require(overall.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 2.0, "\(overall)")

        // verify needs ExecStart to exist: check the same unit pointing at the built binary.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("baton-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let built = UnitFile.service(for: Configuration(), executable: try BatonBinary.path())
        let copy = directory.appendingPathComponent("baton.service").path
        try built.write(toFile: copy, atomically: true, encoding: .utf8)
        let verify = try await Self.run(["verify", copy])
        #expect(!verify.contains("baton.service:"), "systemd-analyze verify: \(verify)")
    }

    /// Runs systemd-analyze and returns what it printed (both streams).
    static func run(_ arguments: [String]) async throws -> String {
        let analyze = try await ChildProcess.run("/usr/bin/systemd-analyze", arguments: arguments)
        return analyze.output + analyze.errors
    }
}
