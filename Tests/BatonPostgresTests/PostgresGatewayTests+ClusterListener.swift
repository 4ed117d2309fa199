@testable import BatonCore
@testable import BatonPostgres
import BatonTestSupport
import Foundation
import Glibc
import Logging
import PostgresNIO
import Testing

/// What reaches a process's stream of a peer's commits, also when the process's cluster
/// listener heard nothing of them or could not read them.
extension PostgresGatewayTests {
    @Test("A stream gets the event a peer committed while its process was not listening, once, with no event after it")
    func aStreamGetsWhatAPeerCommittedWhileNotListening() async throws {
        try await withListenedStream { stream in
            try await stream.whileCutOff {
                try await stream.peerCommits("two")
            }
            #expect(try await stream.nextEvent()?.data == ListenedStream.data("two"))
            try await stream.peerCommits("three")
            #expect(try await stream.nextEvent()?.data == ListenedStream.data("three"), "two came once")
        }
    }

    @Test("A stream gets the event a peer committed that its process heard of but could not read, once")
    func aStreamGetsWhatItsProcessCouldNotRead() async throws {
        try await withListenedStream { stream in
            try await stream.whileReadsFail {
                try await stream.peerCommits("two")
            }
            #expect(try await stream.nextEvent()?.data == ListenedStream.data("two"))
            try await stream.peerCommits("three")
            #expect(try await stream.nextEvent()?.data == ListenedStream.data("three"), "two came once")
        }
    }

    @Test("A listening connection that stops answering without closing (dropped by the network without a word) is replaced; the stream gets what a peer committed meanwhile")
    func aSilentListeningConnectionIsReplaced() async throws {
        try await withListenedStream { stream in
            try await stream.whileListeningBackendFrozen {
                try await stream.peerCommits("two")
            }
            #expect(try await stream.nextEvent()?.data == ListenedStream.data("two"))
        }
    }

    /// A stream of session `s` on a gateway whose cluster listener runs, logged in as a role
    /// of the test's own, so that the test can cut it off or keep it from reading; and a
    /// peer's store beside it.
    struct ListenedStream: Sendable {
        let admin: PostgresClient
        let role: String
        let peer: PostgresStore
        let subscription: EventBus.Subscription

        static func data(_ text: String) -> String { #"{"text":"\#(text)"}"# }

        /// The peer commits an event of `s` with `text` (and notifies the cluster).
        func peerCommits(_ text: String) async throws {
            let results = try await peer.commit([[.appendEvent(SessionEvent(session: "s", id: 0, kind: .notice, data: Self.data(text)))]])
            _ = try results[0].get()
        }

        /// The stream's next event; nil if it ended.
        func nextEvent() async throws -> SessionEvent? {
            let items = subscription.items
            return try await withTimeout(.seconds(30), waitingFor: "the stream's next event") {
                for await item in items {
                    if case .event(let event) = item { return event }
                }
                return nil
            }
        }

        /// Runs `body` while the listener's role may not log in and none of its connections
        /// is left: nothing the listener could hear is sent to it.
        func whileCutOff(_ body: () async throws -> Void) async throws {
            try await admin.query("ALTER ROLE \(unescaped: role) NOLOGIN")
            try await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = \(role)")
            _ = try await eventually("the listener's connections to end", timeout: .seconds(30)) {
                try await count("SELECT COUNT(*) FROM pg_stat_activity WHERE usename = \(role)") == 0 ? true : nil
            }
            try await body()
            try await admin.query("ALTER ROLE \(unescaped: role) LOGIN")
        }

        /// Runs `body` while the server process behind the listening connection is stopped
        /// (SIGSTOP): the connection stays open and answers nothing, as one a network
        /// dropped silently. Waits for the listener to listen on a new connection, then
        /// ends the stopped one.
        func whileListeningBackendFrozen(_ body: () async throws -> Void) async throws {
            let listening = "SELECT pid FROM pg_stat_activity WHERE usename = '\(role)' AND query LIKE 'LISTEN%'"
            let frozen = try #require(try await first(PostgresQuery(unsafeSQL: listening), as: Int32.self))
            #expect(kill(frozen, SIGSTOP) == 0)
            defer { kill(frozen, SIGCONT) }
            try await body()
            _ = try await eventually("the listener to listen on a new connection", timeout: .seconds(30)) {
                let now = try await first(PostgresQuery(unsafeSQL: listening + " AND pid <> \(frozen)"), as: Int32.self)
                return now
            }
            kill(frozen, SIGCONT)
            try await admin.query("SELECT pg_terminate_backend(\(frozen))")
        }

        /// Runs `body` while the listener's role may not read events, and waits for the
        /// listener to have tried to read one after it began.
        func whileReadsFail(_ body: () async throws -> Void) async throws {
            try await admin.query("REVOKE SELECT ON events FROM \(unescaped: role)")
            let since = try await now()
            try await body()
            _ = try await eventually("the listener to try reading a peer's events", timeout: .seconds(30)) {
                let reads = try await count(
                    """
                    SELECT COUNT(*) FROM pg_stat_activity WHERE usename = \(role)
                    AND query LIKE 'SELECT id, kind, data FROM events%' AND query_start > \(since)
                    """)
                return reads > 0 ? true : nil
            }
            try await admin.query("GRANT SELECT ON events TO \(unescaped: role)")
        }

        /// The first value a query of the test's answers.
        func first<Value: PostgresDecodable & Sendable>(_ query: PostgresQuery, as type: Value.Type) async throws -> Value? {
            for try await value in try await admin.query(query).decode(Value.self) { return value }
            return nil
        }

        func count(_ query: PostgresQuery) async throws -> Int64 {
            try await first(query, as: Int64.self) ?? 0
        }

        private func now() async throws -> Date {
            try #require(try await first("SELECT clock_timestamp()", as: Date.self))
        }
    }

    /// Runs a gateway with its cluster listener, a stream of session `s` open on it that
    /// has had the peer's first event ("one"), for `body`.
    private func withListenedStream(_ body: @escaping @Sendable (ListenedStream) async throws -> Void) async throws {
        try await withGateways([DemoAgent(delay: .zero)]) { peers, admin in
            let logger = Self.logger
            let gateway = peers[0].gateway
            let role = "listener_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
            try await admin.query("CREATE ROLE \(unescaped: role) LOGIN")
            try await admin.query("GRANT SELECT ON sessions, events TO \(unescaped: role)")
            let stream = ListenedStream(
                admin: admin, role: role, peer: PostgresStore(client: admin, instance: "peer", logger: logger),
                subscription: gateway.bus.subscribe(session: "s"))
            defer { gateway.bus.unsubscribe(stream.subscription) }
            var configuration = try PostgresURL(try #require(PostgresTestServer.url)).configuration
            configuration.username = role
            configuration.database = try await stream.first("SELECT current_database()", as: String.self)
            let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
            let listener = ClusterListener(
                client: client, store: PostgresStore(client: client, instance: "test", logger: logger), bus: gateway.bus, gateway: gateway,
                logger: logger, pingInterval: .milliseconds(500))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                group.addTask { try await listener.run() }
                _ = try await eventually("the listener to listen", timeout: .seconds(30)) {
                    try await stream.count("SELECT COUNT(*) FROM pg_stat_activity WHERE usename = \(role) AND query LIKE 'LISTEN%'") > 0 ? true : nil
                }
                try await stream.peerCommits("one")
                #expect(try await stream.nextEvent()?.data == ListenedStream.data("one"))
                try await body(stream)
                group.cancelAll()
            }
            try await admin.query("DROP OWNED BY \(unescaped: role)")
            try await admin.query("DROP ROLE \(unescaped: role)")
        }
    }
}
