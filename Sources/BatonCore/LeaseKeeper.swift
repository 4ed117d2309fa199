import ServiceLifecycle

/// Beats the gateway's leases: renews them, lets idle sessions go and takes sessions no
/// live process runs, every `interval` (a third of `store.lease`, so two beats can fail
/// before a lease runs out). Runs only with a shared store.
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
