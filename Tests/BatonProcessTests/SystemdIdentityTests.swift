import BatonTestSupport
import Foundation
import Testing

/// Who may use the API, when systemd hands Baton its socket.
@Suite(
    .serialized,
    .enabled(
        if: SystemdUserManager.isAvailable,
        "needs root, unshare, nsenter and /lib/systemd/systemd for a systemd user manager in a private mount namespace"),
    .timeLimit(.minutes(3))
)
struct SystemdIdentityTests {
    /// `listen` says loopback, but the socket systemd passes is bound to every address:
    /// the socket's own address is what other machines reach, so that is what is judged.
    @Test func withoutTokensASocketFromSystemdThatOtherMachinesReachFailsTheUnit() async throws {
        try await withBatonUnit(socketActivated: true) { unit in
            let manager = unit.manager, port = unit.configuration.port
            try manager.installDropIn(
                for: BatonUnit.socket, named: "zz-outside", contents: "[Socket]\nListenStream=\nListenStream=0.0.0.0:\(port)\n")
            try await manager.systemctl("daemon-reload")
            try await manager.systemctl("start", BatonUnit.socket)
            let start = try await manager.systemctl(["start", BatonUnit.service], check: false)
            #expect(start.termination != .exited(0))
            let state = try await manager.show(BatonUnit.service, ["ActiveState", "ExecMainStatus", "NRestarts"])
            #expect(state["ExecMainStatus"] == "78", "\(state)\n\(unit.log)")
            #expect(state["NRestarts"] == "0", "RestartPreventExitStatus=78: \(state)")
            #expect(unit.log.contains("socket from systemd on 0.0.0.0:\(port): api_tokens"), "\(unit.log)")
            #expect(unit.log.contains("allow_unauthenticated: true"), "\(unit.log)")
        }
    }
}
