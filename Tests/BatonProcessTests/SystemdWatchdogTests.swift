import BatonTestSupport
import Foundation
import Testing

extension SystemdTests {
    /// With `WatchdogSec=1` and every turn slot held by a turn that outlasts several
    /// watchdog periods, systemd must not kill Baton: `WATCHDOG=1` keeps coming.
    @Test func theWatchdogIsFedWhileEveryTurnSlotIsBusy() async throws {
        try await withBatonUnit(
            serviceSettings: ["WatchdogSec=1", "Environment=BATON_AGENT_MAX_CONCURRENT_TURNS=2"], { $0.agentDelay = 3 }
        ) { unit in
            try await unit.manager.systemctl("start", BatonUnit.service)
            let before = try await unit.manager.show(BatonUnit.service, ["MainPID", "WatchdogUSec"])
            #expect(before["WatchdogUSec"] == "1s", "\(before)")
            var sent: [SentMessage] = []
            for index in 0..<4 {
                sent.append(try await unit.client.send(session: "slot-\(index)", text: "slow turn \(index)"))
            }
            let busy = try await unit.client.status()
            #expect(busy.inFlight == 2 && busy.queued == 2, "every slot busy, two waiting: \(busy)")
            // Two waves of 3 s turns: six watchdog periods with no free slot.
            for message in sent {
                _ = try await unit.client.events(session: message.session, timeout: .seconds(60)) { $0.firstReply(to: message.id) != nil }
            }
            let after = try await unit.manager.show(BatonUnit.service, ["MainPID", "NRestarts", "Result", "ActiveState"])
            #expect(after["MainPID"] == before["MainPID"], "\(after)")
            #expect(after["NRestarts"] == "0" && after["Result"] == "success" && after["ActiveState"] == "active", "\(after)")
        }
    }
}

extension SystemdTests {
    /// `baton check-config` reads the installed unit's stop timeout from systemd and warns
    /// when a full drain would not fit in it; with the shipped unit it stays quiet.
    @Test func checkConfigWarnsWhenTheInstalledUnitStopsTooSoon() async throws {
        try await withBatonUnit(serviceSettings: ["TimeoutStopSec=5"], { $0.drainTimeout = 30 }) { unit in
            let check = try await unit.manager.run(
                [try BatonBinary.path(), "check-config", "--user", "--config", unit.configurationPath])
            #expect(check.termination == .exited(0), "\(check)")
            #expect(check.errors.contains("warning: the installed baton.service stops after 5s"), "\(check)")
            #expect(check.errors.contains("= 46 s"), "\(check)")
        }
        try await withBatonUnit({ $0.drainTimeout = 30 }) { unit in
            let check = try await unit.manager.run(
                [try BatonBinary.path(), "check-config", "--user", "--config", unit.configurationPath])
            #expect(check.termination == .exited(0) && !check.errors.contains("warning"), "\(check)")
        }
    }
}
