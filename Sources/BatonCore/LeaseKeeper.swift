import ServiceLifecycle

/// Beats the gateway's leases: renews them, lets idle sessions go and takes sessions no
/// live process runs, `interval` (a third of `store.lease`) after each beat ended. A beat
/// the store is slow to answer can let leases run out before the next renewal: a peer
/// may take one then, but one nobody took is still this process's, and renewed.
/// Runs only with a shared store.
public struct LeaseKeeper: Service {
    let gateway: Gateway
    let interval: Duration

    public init(gateway: Gateway, interval: Duration) {
        self.gateway = gateway
        self.interval = interval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await gateway.leaseBeat()
                do { try await Task.sleep(for: interval) } catch { return }
            }
        }
    }
}
