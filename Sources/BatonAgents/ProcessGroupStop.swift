import Foundation
import Synchronization

/// How an exec agent's turn is stopped: SIGTERM to its process group, the group given
/// `grace` to end, then SIGKILL.
///
/// The turn's process keeps running (and its output keeps being read, so what it writes
/// while it shuts down reaches the log, not a closed pipe) until it exits; then the rest
/// of its group (the agent behind a wrapper script, say) has what is left of the grace.
/// Should its pipes outlive even SIGKILL (a process that left the group holds them), the
/// reading is cancelled a second later.
final class ProcessGroupStop: Sendable {
    private struct State {
        var group: pid_t?
        var interruptedAt: ContinuousClock.Instant?
        /// The grace passed before the process had started: it gets SIGKILL as it does.
        var killDue = false
        var finished = false
    }

    let grace: Duration
    private let state = Mutex(State())

    init(grace: Duration) {
        self.grace = grace
    }

    /// Whether the turn was interrupted: its output is no longer a reply.
    var isInterrupted: Bool { state.withLock { $0.interruptedAt != nil } }

    /// The turn's process started, leading the process group `group`.
    func started(group: pid_t) {
        let signal: Int32? = state.withLock { state in
            state.group = group
            return state.killDue ? SIGKILL : state.interruptedAt != nil ? SIGTERM : nil
        }
        if let signal { _ = kill(-group, signal) }
    }

    /// Interrupts the turn: SIGTERM now, SIGKILL after the grace, `cancelReading` a
    /// second after that if the turn has not ended by then.
    func interrupt(cancelReading: @escaping @Sendable () -> Void) {
        let group: pid_t?? = state.withLock { state in
            guard state.interruptedAt == nil else { return .none }
            state.interruptedAt = .now
            return .some(state.group)
        }
        guard let group else { return }
        if let group { _ = kill(-group, SIGTERM) }
        let grace = self.grace
        Task {
            try? await Task.sleep(for: grace)
            let group: pid_t?? = self.state.withLock { state in
                guard !state.finished else { return .none }
                if state.group == nil { state.killDue = true }
                return .some(state.group)
            }
            guard let group else { return }
            if let group { _ = kill(-group, SIGKILL) }
            try? await Task.sleep(for: .seconds(1))
            if !self.state.withLock({ $0.finished }) { cancelReading() }
        }
    }

    /// Returns once no process of the group is left, or the grace since the interrupt
    /// has passed.
    func waitForGroupToEnd() async {
        guard let (group, interruptedAt) = state.withLock({ state in state.group.flatMap { g in state.interruptedAt.map { (g, $0) } } })
        else { return }
        while kill(-group, 0) == 0, ContinuousClock.now < interruptedAt + grace {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Kills what is left of the group: children that outlived the process that started
    /// them, or that ignored SIGTERM. The turn is over.
    func killRemains() {
        // The group id stays taken while any member lives, so it cannot name a stranger.
        guard let group = state.withLock({ state -> pid_t? in
            state.finished = true
            return state.group
        }), group > 0 else { return }
        _ = kill(-group, SIGKILL)
    }
}
