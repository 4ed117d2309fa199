import BatonTestSupport
import Foundation
import Glibc
import Testing

/// The store holds every chat message: whatever the umask `baton serve` is started with,
/// its directory is 0700 and its files 0600.
@Suite struct PrivateStateTests {
    /// Runs baton under `sh` with umask 022, the usual one, which would leave files 0644.
    static let umask022 = ["/bin/sh", "-c", "umask 022 && exec \"$@\"", "sh"]

    @Test func theStateDirectoryAndStoreArePrivateWhateverTheUmask() async throws {
        try await withBatonFixture { baton in
            let state = try #require(baton.configuration.stateDirectory)
            let first = try await baton.startServer(launcher: Self.umask022)
            _ = try await baton.client.send(session: "s", text: "a private message")
            try expectPrivate(state: state, runtime: baton.configuration.runtimeDirectory)
            first.send(SIGTERM)
            #expect(try await first.exit() == .exited(0))

            // A store an earlier version left readable to everyone is made private at start.
            chmod(state, 0o755)
            chmod("\(state)/baton.sqlite", 0o644)
            let second = try await baton.startServer(launcher: Self.umask022)
            try expectPrivate(state: state, runtime: baton.configuration.runtimeDirectory)
            #expect(baton.serverLogs.contains("Made a state file private"), "\(baton.serverLogs)")
            second.send(SIGTERM)
            #expect(try await second.exit() == .exited(0))
        }
    }

    @Test("A state_directory that holds others' files and no store is not narrowed (it would shut them out); the store in it is private")
    func aSharedDirectoryIsNotNarrowed() async throws {
        try await withBatonFixture({ $0.stateDirectory = nil }) { baton in
            let shared = baton.directory.appending("shared")
            try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
            chmod(shared, 0o755)
            try "someone else's\n".write(toFile: "\(shared)/notes.txt", atomically: true, encoding: .utf8)
            let server = try await baton.startServer(environment: ["BATON_STATE_DIRECTORY": shared], launcher: Self.umask022)
            _ = try await baton.client.send(session: "s", text: "a private message")
            #expect(try mode(shared) == 0o755)
            #expect(try mode("\(shared)/baton.sqlite") == 0o600)
            #expect(baton.serverLogs.contains("state_directory holds other files"), "\(baton.serverLogs)")
            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0))
        }
    }

    private func expectPrivate(state: String, runtime: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try mode(state) == 0o700, "state directory", sourceLocation: sourceLocation)
        for name in ["baton.sqlite", "baton.sqlite-wal", "baton.sqlite-shm"] {
            #expect(try mode("\(state)/\(name)") == 0o600, "\(name)", sourceLocation: sourceLocation)
        }
        #expect(try mode(runtime) == 0o700, "runtime directory", sourceLocation: sourceLocation)
        #expect(try mode("\(runtime)/control.sock") == 0o600, "control socket", sourceLocation: sourceLocation)
    }

    private func mode(_ path: String) throws -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .ENOENT) }
        return status.st_mode & 0o777
    }
}
