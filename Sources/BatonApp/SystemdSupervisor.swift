import BatonCore
import BatonSystemd
import Logging
import ServiceLifecycle

/// Keeps systemd told: `READY=1`; `STATUS=` at once when a drain or stop begins, while
/// ready at most once a second (under load the counts change with every message: a
/// datagram each would make systemd parse thousands a second), while draining once a
/// second; `STOPPING=1` once a drain is for a stop, `EXTEND_TIMEOUT_USEC` through a drain,
/// and `WATCHDOG=1` while the gateway answers.
///
/// A drain for a restart never sends `STOPPING=1`: the unit stays `active (running)`, its
/// status line saying "Draining for restart: …", until the process exits 75. That is what
/// makes `systemctl reload` return as soon as the signal is delivered, every time.
///
/// Why (systemd 252): the reload job runs `ExecReload=/bin/kill -USR1 $MAINPID` with the
/// unit `reloading`, and completes when systemd reads `kill`'s exit and puts the unit back
/// to `running`. Baton reacts to SIGUSR1 within a millisecond, about when `kill` exits, and
/// systemd reads notifications before child exits (its notify socket has the higher event
/// priority). A `STOPPING=1` sent at the drain's start was therefore often read while the
/// unit was still `reloading`: systemd moved it to `deactivating`, `kill`'s exit no longer
/// completed the job, and the job waited for the unit to become active or inactive, which
/// happened only when the drained process exited: after the whole drain, just before the
/// next process started. Which of the two events systemd read first decided whether
/// `systemctl reload` returned at once or after up to `drain.timeout`.
///
/// A stop still sends `STOPPING=1`, at the start of a stop drain or as soon as a stop
/// overtakes a restart drain; under `systemctl stop` the unit is `deactivating` already.
actor SystemdSupervisor: Service {
    private let notifier: SystemdNotifier
    private let gateway: Gateway
    /// Added to the drain's remaining time when extending systemd's stop timeout: the
    /// interrupt grace plus the time to close connections and commit.
    private let stopMargin: Double
    private let logger: Logger
    private var sentReady = false
    private var sentStopping = false
    /// Whether the drain's start has been reported.
    private var reportedDrain = false
    private var lastDrainReport = ContinuousClock.Instant.now - .seconds(10)
    /// The latest moment systemd's stop timeout is extended to: the drain's deadline plus
    /// the margin, fixed when the drain is first reported. Past it no more time is asked
    /// for, so a turn that never ends cannot hold off a stop's SIGKILL for good.
    private var stopLimit: ContinuousClock.Instant?
    private var lastStatus: String?
    /// When a ready status was last sent, and the newer one held back since.
    private var lastReadyStatusSent = ContinuousClock.Instant.now - .seconds(10)
    private var heldReadyStatus: String?

    init(notifier: SystemdNotifier, gateway: Gateway, stopMargin: Double, logger: Logger) {
        self.notifier = notifier
        self.gateway = gateway
        self.stopMargin = stopMargin
        self.logger = logger
    }

    func run() async throws {
        guard notifier.isSupervised else { return }
        let watchdog = notifier.watchdogInterval()
        // Every loop runs until this service's turn to shut down, so the process never
        // waits on a sleeping tick, and no service ends while the group shuts down.
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    for await status in await self.gateway.statusUpdates(.coalesced) {
                        await self.report(status, tick: false)
                    }
                }
                group.addTask {
                    // While draining, say how much is left every second; while ready, send
                    // the count held back, if any.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        let status = await self.gateway.status()
                        if status.state == .draining { await self.report(status, tick: true) }
                        if status.state == .ready { await self.sendHeldReadyStatus() }
                    }
                }
                if let watchdog {
                    group.addTask {
                        self.logger.info("Watchdog enabled", metadata: ["baton.watchdog": "\(watchdog)"])
                        while !Task.isCancelled {
                            if await self.gateway.heartbeat() { self.notifier.watchdog() }
                            try? await Task.sleep(for: watchdog / 2)
                        }
                    }
                }
            }
        }
        logger.info("systemd notifications stopped")
    }

    private func report(_ status: GatewayStatus, tick: Bool) {
        let summary = status.summary
        switch status.state {
        case .starting:
            send(summary)
        case .ready:
            if !sentReady {
                sentReady = true
                lastStatus = summary
                notifier.ready(status: summary)
            } else if ContinuousClock.now - lastReadyStatusSent >= Self.readyStatusInterval {
                heldReadyStatus = nil
                lastReadyStatusSent = .now
                send(summary)
            } else {
                heldReadyStatus = summary
            }
        case .draining, .stopping:
            heldReadyStatus = nil
            if !sentReady {
                // A drain asked for while the process started (a signal held until the
                // gateway ran, say), or a ready status replaced by the drain's before it was
                // read: systemd still needs READY=1 first, or the start counts as failed.
                sentReady = true
                notifier.ready(status: summary)
            }
            let first = !reportedDrain
            reportedDrain = true
            if !sentStopping, status.drain?.reason == .stop {
                // Only for a stop: see the type's comment for why a restart never sends it.
                sentStopping = true
                lastStatus = summary
                notifier.stopping(status: summary)
            } else if first || status.state == .stopping || tick || ContinuousClock.now - lastDrainReport >= .seconds(1) {
                send(summary)
            } else {
                return
            }
            lastDrainReport = .now
            let left = status.state == .draining ? (status.drain?.secondsLeft ?? 0) : 0
            let limit = stopLimit ?? .now + .seconds(left + stopMargin)
            stopLimit = limit
            let remaining = limit - .now
            if remaining > .zero {
                notifier.extendTimeout(seconds: remaining.seconds)
            }
        }
    }

    /// How often a ready process's status line changes at most.
    static let readyStatusInterval: Duration = .seconds(1)

    private func sendHeldReadyStatus() {
        guard let summary = heldReadyStatus else { return }
        heldReadyStatus = nil
        lastReadyStatusSent = .now
        send(summary)
    }

    private func send(_ summary: String) {
        guard summary != lastStatus else { return }
        lastStatus = summary
        notifier.status(summary)
    }
}
