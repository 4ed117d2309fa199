@testable import BatonCore
@testable import BatonPostgres
import BatonTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

extension PostgresGatewayTests {
    @Test("Leases are renewed on a beat of their own: a take held up by a locked row (up to 5 s a try) does not delay them past the lease")
    func aTakeHeldUpDoesNotDelayTheRenewals() async throws {
        try await withGateway { gateway, _, _, client in
            let logger = Logger(label: "test")
            // A session with a message waiting, whose lease a process that went away let run out.
            let ghost = PostgresLeases(client: client, instance: "ghost", lease: 30, listen: "test", logger: logger)
            _ = try #require(try await ghost.acquire("ghosted"))
            _ = try await gateway.accept(IncomingMessage(id: "m1", session: "ghosted", user: "u", text: "hello"))
            try await client.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE session = 'ghosted'", logger: logger)

            // Its row stays locked: the keeper's take of it waits.
            try await Self.whileLocked("SELECT 1 FROM leases WHERE session = 'ghosted' FOR UPDATE", client: client) {
                let keeper = Task { try await LeaseKeeper(gateway: gateway, interval: .milliseconds(200)).run() }
                defer { keeper.cancel() }
                // Renewals (the process's row seen again) while one take stays blocked.
                let instance = gateway.instance
                try await withTimeout(.seconds(4), waitingFor: "three renewals while a take waits for the locked row") {
                    var blockedSince: Date?
                    var renewals: Set<Date> = []
                    while renewals.count < 3 {
                        let waiting = try await client.query(
                            """
                            SELECT query_start FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO leases%'
                            """, logger: logger)
                        var started: Date?
                        for try await start in waiting.decode(Date.self) { started = start }
                        if let started, started != blockedSince {
                            blockedSince = started
                            renewals = []
                        }
                        if let blockedSince {
                            for try await seen in try await client.query(
                                "SELECT seen_at FROM processes WHERE instance = \(instance)", logger: logger
                            ).decode(Date.self) where seen > blockedSince {
                                renewals.insert(seen)
                            }
                        }
                        try await Task.sleep(for: .milliseconds(50))
                    }
                }
            }
        }
    }
}
