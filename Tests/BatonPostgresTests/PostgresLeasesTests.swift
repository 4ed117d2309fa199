@testable import BatonCore
@testable import BatonPostgres
import BatonTestSupport
import Foundation
import Logging
import PostgresNIO
import Testing

/// Session leases in PostgreSQL: each acquisition a generation of its own, so a release
/// lets go of the lease it names and of no other; a lease that ran out is its holder's
/// until a peer takes it.
@Suite("Leases on PostgreSQL", .serialized, .enabled(if: PostgresTestServer.isAvailable, "needs scripts/postgres.sh up"))
struct PostgresLeasesTests {
    private func holder(of session: String, in database: String) async throws -> String {
        try await PostgresTestServer.psql(database, "SELECT holder FROM leases WHERE session = '\(session)'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The session's lease row as "holder|generation|whether it has run out" (`t` or `f`).
    private func lease(of session: String, in database: String) async throws -> String {
        try await PostgresTestServer.psql(database, "SELECT holder, generation, expires_at < now() FROM leases WHERE session = '\(session)'")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes every lease of `session` run out, as a renewal the database was slow to answer
    /// would: by the database's clock, without waiting.
    private func runOut(_ session: String, in database: String) async throws {
        _ = try await PostgresTestServer.psql(database, "UPDATE leases SET expires_at = now() - interval '1 second' WHERE session = '\(session)'")
    }

    @Test("A lease that ran out and that no peer took is renewed by its holder, under the same generation; a peer cannot take it then")
    func aLeaseThatRanOutUntakenIsRenewed() async throws {
        try await withMigratedDatabase { client, database in
            let a = PostgresLeases(client: client, instance: "a", lease: 30, listen: "test", logger: Logger(label: "test"))
            let b = PostgresLeases(client: client, instance: "b", lease: 30, listen: "test", logger: Logger(label: "test"))
            let grant = try #require(try await a.acquire("s"))
            try await runOut("s", in: database)
            #expect(try await lease(of: "s", in: database) == "a|\(grant.generation)|t")

            #expect(try await a.renew(state: "ready") == ["s"], "still a's: nobody took it")
            #expect(try await lease(of: "s", in: database) == "a|\(grant.generation)|f")
            #expect(try await b.acquire("s") == nil, "renewed, so a's again")
            try await a.release("s", generation: grant.generation)
            #expect(try await holder(of: "s", in: database) == "", "let go under the generation it was taken with")
        }
    }

    @Test("A lease a peer took after it ran out is not renewed by its old holder")
    func aLeaseAPeerTookIsNotRenewedByItsOldHolder() async throws {
        try await withMigratedDatabase { client, database in
            let a = PostgresLeases(client: client, instance: "a", lease: 30, listen: "test", logger: Logger(label: "test"))
            let b = PostgresLeases(client: client, instance: "b", lease: 30, listen: "test", logger: Logger(label: "test"))
            _ = try #require(try await a.acquire("s"))
            _ = try #require(try await a.acquire("kept"))
            try await runOut("s", in: database)
            let taken = try #require(try await b.acquire("s"))
            #expect(taken.takenFrom == "a")

            #expect(try await a.renew(state: "ready") == ["kept"], "s is b's")
            #expect(try await lease(of: "s", in: database) == "b|\(taken.generation)|f")
            #expect(try await b.renew(state: "ready") == ["s"])
        }
    }

    @Test("A release that comes after its holder took the session again leaves the new lease be")
    func aLateReleaseKeepsTheNextLease() async throws {
        try await withMigratedDatabase { client, database in
            let leases = PostgresLeases(client: client, instance: "a", lease: 30, listen: "test", logger: Logger(label: "test"))
            let first = try #require(try await leases.acquire("s"))
            try await leases.release("s", generation: first.generation)
            let second = try #require(try await leases.acquire("s"))
            #expect(second.generation != first.generation, "the row went on release; its next generation is still new")

            try await leases.release("s", generation: first.generation)  // late: already let go
            #expect(try await holder(of: "s", in: database) == "a")
            #expect(try await leases.renew(state: "ready") == ["s"])
            try await leases.release("s", generation: second.generation)
            #expect(try await holder(of: "s", in: database) == "")
        }
    }

    @Test("A lease that ran out is taken by a peer under a newer generation, and its old holder's release changes nothing")
    func aPeerTakesALeaseThatRanOut() async throws {
        try await withMigratedDatabase { client, database in
            let a = PostgresLeases(client: client, instance: "a", lease: 0.2, listen: "test", logger: Logger(label: "test"))
            let b = PostgresLeases(client: client, instance: "b", lease: 30, listen: "test", logger: Logger(label: "test"))
            let old = try #require(try await a.acquire("s"))
            #expect(try await b.acquire("s") == nil, "held by a")
            let taken = try await eventually("a's lease to run out", timeout: .seconds(10)) { try await b.acquire("s") }
            #expect(taken.takenFrom == "a")
            #expect(taken.generation > old.generation)
            try await a.release("s", generation: old.generation)
            #expect(try await holder(of: "s", in: database) == "b")
        }
    }

    @Test("Takes given up while a lease row is locked elsewhere do not keep the pool's connections: renewals still get one")
    func abandonedTakesLeaveConnectionsForRenewals() async throws {
        try await withMigratedDatabase { client, _ in
            let a = PostgresLeases(client: client, instance: "a", lease: 30, listen: "test", logger: Logger(label: "test"))
            let b = PostgresLeases(client: client, instance: "b", lease: 30, listen: "test", logger: Logger(label: "test"))
            #expect(try await a.acquire("free") != nil)
            #expect(try await b.acquire("locked") != nil)
            try await PostgresGatewayTests.whileLocked("SELECT 1 FROM leases WHERE session = 'locked' FOR UPDATE", client: client) { () async throws in
                // More takes than the pool has connections, each given up by the process
                // after its 5 s while the row stays locked.
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<24 { group.addTask { _ = try? await a.acquire("locked") } }
                }
                #expect(try await a.renew(state: "ready") == ["free"], "a renewal got a connection while the row is still locked")
            }
        }
    }

    @Test("A draining process renews only the sessions it runs: a lease it holds for a session it does not run is left to run out, for a peer to take")
    func aRenewalOfSomeSessionsLeavesTheOthers() async throws {
        try await withMigratedDatabase { client, database in
            let a = PostgresLeases(client: client, instance: "a", lease: 30, listen: "test", logger: Logger(label: "test"))
            #expect(try await a.acquire("running") != nil)
            #expect(try await a.acquire("not-running") != nil)
            try await runOut("running", in: database)
            try await runOut("not-running", in: database)
            #expect(try await a.renew(state: "draining", only: ["running"]) == ["running"])
            #expect(try await lease(of: "running", in: database).hasSuffix("|f"))
            #expect(try await lease(of: "not-running", in: database).hasSuffix("|t"), "left to run out")
        }
    }

    @Test("A write fenced under a lease its process lost and took back since is refused; one under the lease it holds now commits")
    func aFenceNamesTheLeaseItWasWrittenUnder() async throws {
        try await withMigratedDatabase { client, database in
            let a = PostgresLeases(client: client, instance: "a", lease: 30, listen: "test", logger: Logger(label: "test"))
            let b = PostgresLeases(client: client, instance: "b", lease: 30, listen: "test", logger: Logger(label: "test"))
            let store = PostgresStore(client: client, instance: "a", logger: Logger(label: "test"))
            let first = try #require(try await a.acquire("s")).generation
            try await runOut("s", in: database)
            #expect(try await b.acquire("s") != nil, "a peer took it")
            try await runOut("s", in: database)
            let again = try #require(try await a.acquire("s")).generation
            func write(under generation: Int64) async throws -> Result<[SessionEvent], any Error> {
                let event = SessionEvent(session: "s", id: 0, kind: .notice, data: #"{"text":"under \#(generation)"}"#)
                return try await store.commit([[.fence(session: "s", generation: generation), .appendEvent(event)]])[0]
            }
            let stale = try await write(under: first)
            #expect(throws: LeaseLostError.self, "written under the lease a lost") { try stale.get() }
            let current = try await write(under: again)
            #expect(try current.get().count == 1)
        }
    }
}
