import BatonCore
import ServiceLifecycle
import UnixSignals

/// Turns signals into drains: SIGUSR1 (`systemctl reload`) restarts, SIGTERM and SIGINT
/// stop; a second SIGTERM or SIGINT interrupts in-flight turns at once.
struct SignalRouter: Service {
    let gateway: Gateway

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigusr1, .sigterm, .sigint)
        for await signal in signals.cancelOnGracefulShutdown() {
            if signal == .sigusr1 {
                await gateway.requestDrain(.restart, immediate: false, origin: .reloadSignal)
            } else {
                await gateway.requestDrain(.stop, immediate: false, origin: .terminationSignal)
            }
        }
    }
}
