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
}
