import ArgumentParser
import BatonApp
import BatonCore
import Foundation

/// `baton restart` and `baton stop`: ask for a drain and, with `--wait`, follow it.
struct DrainCommand {
    let reason: DrainReason
    let now: Bool
    let wait: Bool
    let client: ControlClient
    /// `drain.interrupt_grace` as the configuration says: how long interrupted turns may
    /// take to end after the drain's deadline.
    let interruptGrace: Double

    /// Seconds past the drain deadline to wait for the next process to be ready.
    static let startMargin: Double = 30

    func run() throws {
        let first: GatewayStatus
        do {
            first = try client.requestDrain(reason, now: now)
        } catch {
            printError(error.description)
            throw ExitCode(error.exitStatus.rawValue)
        }
        let progress = ProgressLine()
        progress.show("\(reason == .restart ? "Restart" : "Stop") requested of instance \(first.instance): \(first.summary)")
        guard wait else {
            progress.finish()
            return
        }
        if reason == .restart, first.drain?.reason == .stop {
            // Stop wins over restart: no next process will start to wait for.
            progress.finish()
            printError("instance \(first.instance) is stopping, and a stop wins over a restart: no next process will start. Start it again once it has stopped.")
            throw ExitCode(ExitStatus.failure.rawValue)
        }
        if reason == .restart, first.supervisor == nil {
            progress.note("instance \(first.instance) is not run by systemd: a new process starts only if something else starts it")
        }
        let budget = (first.drain?.secondsLeft ?? 0) + (first.drain == nil ? 0 : interruptGrace) + Self.startMargin
        let deadline = Date().addingTimeInterval(budget)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.2)
            let status: GatewayStatus
            do {
                status = try client.status()
            } catch {
                // The control socket closes before the process has flushed its writes
                // and exited: a stop is done once the process is gone.
                if reason == .stop, case .notRunning = error, !Self.isAlive(first.pid) {
                    progress.show("Instance \(first.instance) has stopped")
                    progress.finish()
                    return
                }
                progress.show(reason == .stop ? "Waiting for instance \(first.instance) to exit" : "Waiting for the next process")
                continue
            }
            if status.instance == first.instance {
                progress.show(status.summary)
            } else if reason == .stop {
                progress.show("Instance \(first.instance) has stopped; instance \(status.instance) is \(status.state.rawValue)")
                progress.finish()
                return
            } else if status.state == .ready {
                progress.show("Instance \(status.instance) is ready")
                progress.finish()
                return
            } else {
                progress.show("Instance \(status.instance) is \(status.state.rawValue)")
            }
        }
        progress.finish()
        let what = reason == .restart ? "no new process became ready" : "instance \(first.instance) did not exit"
        printError("\(reason.rawValue) did not complete: \(what) within \(Int(budget)) s. See `systemctl status baton` and `journalctl -u baton`.")
        throw ExitCode(ExitStatus.failure.rawValue)
    }

    /// Whether a process with this id still runs (one of another user's included; one
    /// that exited and waits for its parent to collect it does not).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        // `/proc/PID/stat`: "pid (name) state …"; the name may hold spaces and parentheses.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].trimmingPrefix(" ").first != "Z"
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restart", abstract: "Drain in-flight turns, then start a new process (exit 75).")

    @OptionGroup var control: ControlOptions
    @Flag(help: "Return only once the new process is ready.") var wait = false
    @Flag(help: "Interrupt in-flight turns at once; the next process runs them again.") var now = false

    func run() throws {
        let (client, configuration) = try control.connection()
        try DrainCommand(reason: .restart, now: now, wait: wait, client: client, interruptGrace: configuration.drain.interruptGrace).run()
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Drain in-flight turns, then exit (exit 0).")

    @OptionGroup var control: ControlOptions
    @Flag(help: "Return only once the process is gone.") var wait = false
    @Flag(help: "Interrupt in-flight turns at once; the next start runs them again.") var now = false

    func run() throws {
        let (client, configuration) = try control.connection()
        try DrainCommand(reason: .stop, now: now, wait: wait, client: client, interruptGrace: configuration.drain.interruptGrace).run()
    }
}
