import CSystemd
import Glibc

/// Talks to the service manager through libsystemd's `sd_notify` family.
///
/// Every call is a no-op when `NOTIFY_SOCKET` is unset (not running under systemd).
public struct SystemdNotifier: Sendable {
    /// Whether a service manager listens (`NOTIFY_SOCKET` is set).
    public let isSupervised: Bool

    public init(environment: [String: String]) {
        isSupervised = environment["NOTIFY_SOCKET"].map { !$0.isEmpty } ?? false
    }

    /// Sends newline-separated `KEY=value` assignments; returns whether they were sent.
    @discardableResult
    public func notify(_ assignments: String) -> Bool {
        guard isSupervised else { return false }
        return sd_notify(0, assignments) > 0
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }

    public func status(_ text: String) { notify("STATUS=\(text)") }

    /// The drain has begun: the unit shows as deactivating.
    public func stopping(status: String) { notify("STOPPING=1\nSTATUS=\(status)") }

    /// Keeps systemd's start/stop timeout at least `seconds` ahead of now, saying why in
    /// `status` if given (in the same message).
    public func extendTimeout(seconds: Double, status: String? = nil) {
        notify((status.map { "STATUS=\($0)\n" } ?? "") + "EXTEND_TIMEOUT_USEC=\(UInt64(max(seconds, 1) * 1_000_000))")
    }

    public func watchdog() { notify("WATCHDOG=1") }

    /// Stores `descriptor` with the service manager under `name`, so the next process of
    /// the unit receives it in `LISTEN_FDS`.
    @discardableResult
    public func storeDescriptor(_ descriptor: Int32, name: String) -> Bool {
        guard isSupervised else { return false }
        var fds = [descriptor]
        return sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=\(name)", &fds, 1) > 0
    }

    /// The watchdog period systemd asked for (`WATCHDOG_USEC`), if any.
    public func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }
}
