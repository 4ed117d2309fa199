/// How `baton serve` ends; systemd's unit settings key off these numbers.
public enum ExitStatus: Int32, Sendable {
    /// Stopped as asked.
    case stopped = 0
    /// Anything unexpected; `Restart=on-failure` starts a new process.
    case failure = 1
    /// `baton status|restart|stop` found no running gateway.
    case notRunning = 3
    /// Drained for a restart; `RestartForceExitStatus=75` starts the next process.
    case restart = 75
    /// The configuration is invalid; `RestartPreventExitStatus=78` stops the loop.
    case invalidConfiguration = 78
}
