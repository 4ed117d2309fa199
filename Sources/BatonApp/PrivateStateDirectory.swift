import Foundation
import Glibc
import Logging

/// Keeps the state directory and the store's files private to Baton's user: the directory
/// 0700, the SQLite database and its `-wal` and `-shm` files 0600. They hold every chat
/// message.
///
/// `baton serve` runs with umask 0077 (as the shipped unit sets), so whatever it creates
/// is private from the start; this also makes a directory and store created by an
/// earlier version, or by a caller with a wider umask, private before the store opens.
enum PrivateStateDirectory {
    static let directoryMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600
    /// The store's files, as SQLite names them beside `baton.sqlite`.
    static let storeFiles = ["baton.sqlite", "baton.sqlite-wal", "baton.sqlite-shm"]

    /// Creates `path` 0700 if it is missing, else narrows it (when it is Baton's: empty,
    /// or holding a store) and the store's files.
    ///
    /// A directory that holds other files and no store (`state_directory: /var/lib`, a
    /// home directory) is not Baton's to narrow: it would shut others out of their own
    /// files. It is left as it is, with a warning; the store's files are private anyway.
    static func prepare(_ path: String, logger: Logger) throws {
        let files = FileManager.default
        if !files.fileExists(atPath: path) {
            try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(directoryMode)])
        }
        // Its `run` directory (the runtime directory's default) is Baton's too.
        let contents = ((try? files.contentsOfDirectory(atPath: path)) ?? []).filter { $0 != "run" }
        if contents.isEmpty || contents.contains(storeFiles[0]) {
            narrow(path, to: directoryMode, logger: logger)
        } else {
            logger.warning(
                "state_directory holds other files and no store: left as it is, though others may list it. Give Baton a directory of its own",
                metadata: ["baton.path": "\(path)"])
        }
        for name in storeFiles {
            narrow((path as NSString).appendingPathComponent(name), to: fileMode, logger: logger)
        }
    }

    /// Removes every permission beyond `mode` from `path`, if it exists and has any.
    private static func narrow(_ path: String, to mode: mode_t, logger: Logger) {
        var status = stat()
        guard stat(path, &status) == 0 else { return }
        let current = status.st_mode & 0o7777
        guard current & ~mode != 0 else { return }
        if chmod(path, current & mode) == 0 {
            logger.notice(
                "Made a state file private", metadata: ["baton.path": "\(path)", "baton.mode": "\(String(current & mode, radix: 8))"])
        } else {
            logger.warning(
                "Cannot make a state file private",
                metadata: ["baton.path": "\(path)", "baton.error": "\(String(cString: strerror(errno)))"])
        }
    }
}
