import ServiceLifecycle

/// Beats the gateway's leases, a third of `store.lease` (`interval`) after each beat
/// ended: renews them (``Gateway/renewLeases()``), and, on a beat of its own, lets idle
/// sessions go and takes sessions no live process runs (``Gateway/tendSessions()``).
///
/// The two beats are apart so that a slow take or release (a row locked elsewhere, each
/// try bounded by 5 s) cannot delay a renewal past the lease and lose every session. A
/// renewal the store is slow to answer can still let leases run out: a peer may take
/// one then, but one nobody took is still this process's, and renewed.
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
            await withDiscardingTaskGroup { group in
                group.addTask { await beat { await gateway.renewLeases() } }
                group.addTask { await beat { await gateway.tendSessions() } }
            }
        }
    }

    /// Runs `step` every `interval` after it ended, until cancelled.
    private func beat(_ step: () async -> Void) async {
        while !Task.isCancelled {
            await step()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }
}
