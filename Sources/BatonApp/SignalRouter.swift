import BatonCore
import ServiceLifecycle
import UnixSignals

/// Turns signals into drains: SIGUSR1 (`systemctl reload`) and SIGHUP (the reload signal
/// by habit) restart, SIGTERM and SIGINT stop; a second SIGTERM or SIGINT interrupts
/// in-flight turns at once.
struct SignalRouter: Service {
    let gateway: Gateway
    /// The signals, trapped by ``trap()`` before any service starts.
    let signals: UnixSignalsSequence

    /// Takes SIGUSR1, SIGHUP, SIGTERM and SIGINT away from their default action (which ends the
    /// process) and queues them until ``run()`` reads them. Called before the services
    /// start: trapped only in `run()`, a SIGTERM sent the moment the process said READY=1
    /// could come before this service ran, and end the process without a drain.
    static func trap() async -> UnixSignalsSequence {
        await UnixSignalsSequence(trapping: .sigusr1, .sighup, .sigterm, .sigint)
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for await signal in signals.cancelOnGracefulShutdown() {
                if signal == .sigusr1 || signal == .sighup {
                    // Beside the loop: the check of the next start may take seconds (an
                    // upgrade's binary asked), and a SIGTERM meanwhile must not wait for it.
                    // A refused restart is logged by the gateway; the process keeps serving.
                    group.addTask { _ = try? await gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal) }
                } else {
                    _ = try? await gateway.requestDrain(.stop, immediate: false, origin: .terminationSignal)
                }
            }
            group.cancelAll()
        }
    }
}
