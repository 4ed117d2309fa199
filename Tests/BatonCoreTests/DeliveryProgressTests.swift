@testable import BatonCore
import Testing

/// The bookkeeping of a chat network's delivery: which session is next, and how many
/// events wait, as events are noted, delivered and caught up with.
@Suite struct DeliveryProgressTests {
    private func event(_ session: String, _ id: Int64) -> SessionEvent {
        SessionEvent(session: session, id: id, kind: .reply, data: "{}")
    }

    /// The backlog as the sum over the sessions, counted from scratch.
    private func counted(_ progress: DeliveryProgress) -> Int {
        progress.latest.reduce(0) { $0 + Int(max(0, $1.value - (progress.delivered[$1.key] ?? 0))) }
    }

    @Test func atTheStartTheSessionsWithEventsToDeliverComeByName() {
        var progress = DeliveryProgress(delivered: ["!b": 3, "!c": 5], latest: ["!c": 5, "!b": 7, "!a": 2])
        #expect(progress.backlog == 6)
        #expect(progress.nextPendingSession == "!a")
        progress.delivered("!a", through: 2)
        progress.caughtUp("!a")
        #expect(progress.nextPendingSession == "!b", "!c has had everything")
        progress.caughtUp("!b")
        #expect(progress.nextPendingSession == nil)
        #expect(progress.backlog == 0, "caught up with !b though its events were not delivered: none stored, then")
    }

    @Test func laterSessionsWaitInTheOrderTheirEventsCame() {
        var progress = DeliveryProgress(delivered: [:], latest: [:])
        let news = [event("!z", 1), event("!a", 1), event("!z", 2)].map { progress.note($0) }
        #expect(news == [true, true, true])
        #expect(progress.nextPendingSession == "!z")
        #expect(progress.backlog == 3)
        progress.delivered("!z", through: 2)
        progress.caughtUp("!z")
        #expect(progress.nextPendingSession == "!a")
        #expect(progress.backlog == 1)
    }

    @Test func anEventAlreadyDeliveredIsNoNews() {
        var progress = DeliveryProgress(delivered: ["!a": 4], latest: ["!a": 4])
        let news = progress.note(event("!a", 4))
        #expect(!news)
        #expect(progress.nextPendingSession == nil)
        #expect(progress.backlog == 0)
    }

    /// Deliveries read from the store may run ahead of the events noted from the bus, and
    /// notes may come late and out of order: the count kept is the count from scratch.
    @Test func theBacklogKeptIsTheBacklogCounted() {
        var generator = SystemRandomNumberGenerator()
        var progress = DeliveryProgress(delivered: ["s1": 2], latest: ["s1": 5, "s2": 1])
        var stored = ["s1": Int64(5), "s2": Int64(1), "s3": Int64(0)]
        for _ in 0..<2_000 {
            let session = ["s1", "s2", "s3"].randomElement(using: &generator)!
            switch Int.random(in: 0..<4, using: &generator) {
            case 0:
                stored[session]! += 1
                _ = progress.note(event(session, stored[session]!))
            case 1:
                // A note that comes late: an event older than the newest known.
                _ = progress.note(event(session, max(1, stored[session]! - 2)))
            case 2:
                // Delivered as read from the store, whatever the notes said so far.
                let sent = progress.delivered[session] ?? 0
                if stored[session]! > sent { progress.delivered(session, through: Int64.random(in: sent + 1...stored[session]!)) }
            default:
                if progress.delivered[session] ?? 0 == stored[session]! { progress.caughtUp(session) }
            }
            #expect(progress.backlog == counted(progress))
            #expect(progress.backlog >= 0)
        }
    }
}
