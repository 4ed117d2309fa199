import BatonTestSupport
import Foundation
import Glibc
import Testing

/// The first start of `baton serve` over a store an earlier release left: it upgrades the
/// store's layout, tells systemd how far it got while it does, and serves the history
/// that was there.
@Suite struct StoreUpgradeTests {
    @Test("A restart asked for while the store is upgraded at start: READY=1 first, then the drain, then exit 75")
    func aRestartAskedForDuringTheUpgradeStillSendsReady() async throws {
        try await withBatonFixture { baton in
            let state = try #require(baton.configuration.stateDirectory)
            // Enough events that the upgrade takes a while after its first report.
            let events = (1...300_000).map { number in
                EarlierSQLiteStore.Event(session: "s\(number % 1000)", id: Int64(number / 1000 + 1), data: "{}", createdAt: Double(number))
            }
            try EarlierSQLiteStore.write(in: state, events: events)

            let server = try await baton.startServer(waitUntilReady: false)
            _ = try await server.notifications.wait(for: "STATUS", timeout: .seconds(60))
            server.send(SIGUSR1)
            #expect(try await server.exit(within: .seconds(120)) == .exited(75), "\(baton.serverLogs)")
            let received = server.notifications.received
            let ready = received.firstIndex { $0["READY"] == "1" }
            #expect(ready != nil, "READY=1 never sent: \(received.map(\.assignments))")
            #expect(!received.contains { $0["STOPPING"] != nil }, "a restart does not send STOPPING=1")
        }
    }

    @Test func theFirstStartAfterAnUpgradeTellsSystemdAndKeepsTheHistory() async throws {
        try await withBatonFixture { baton in
            let state = try #require(baton.configuration.stateDirectory)
            let now = Date().timeIntervalSince1970
            let replies = (1...3).map { number in
                EarlierSQLiteStore.Event(
                    session: "old", id: Int64(number), data: #"{"id":"m\#(number).1","in_reply_to":"m\#(number)","text":"reply \#(number)"}"#,
                    createdAt: now - 60 + Double(number))
            }
            try EarlierSQLiteStore.write(in: state, events: replies)

            let server = try await baton.startServer()

            let upgrade = server.notifications.received.filter { $0["STATUS"]?.hasPrefix("Upgrading the store:") == true }
            #expect(upgrade.last?["STATUS"] == "Upgrading the store: 3 of 3 events indexed by session", "\(server.notifications.received)")
            #expect(upgrade.allSatisfy { $0["EXTEND_TIMEOUT_USEC"] != nil }, "each report keeps systemd waiting: \(upgrade)")
            let history = try await baton.client.allEvents(session: "old")
            #expect(history.map(\.id) == [1, 2, 3])
            #expect(history.map { $0.payload?.text } == ["reply 1", "reply 2", "reply 3"])
            let sent = try await baton.client.send(session: "old", text: "still there?")
            let events = try await baton.client.events(session: "old", after: 3) { $0.firstReply(to: sent.id) != nil }
            #expect(events.first?.id == 4, "ids go on from the history: \(events)")

            server.send(SIGTERM)
            #expect(try await server.exit() == .exited(0), "\(baton.serverLogs)")
            let again = try await baton.startServer()
            #expect(!again.notifications.received.contains { $0["STATUS"]?.hasPrefix("Upgrading") == true }, "upgraded once")
            again.send(SIGTERM)
            #expect(try await again.exit() == .exited(0), "\(baton.serverLogs)")
        }
    }
}
