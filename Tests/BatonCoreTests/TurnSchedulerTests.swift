import BatonCore
import Testing

@Suite struct TurnSchedulerTests {
    @Test func oneTurnAtATimePerSessionInAcceptanceOrder() {
        var scheduler = TurnScheduler(maxConcurrentTurns: 10)
        #expect(scheduler.enqueue("m1", session: "a", durable: true) == [.init(message: "m1", session: "a")])
        #expect(scheduler.enqueue("m2", session: "a", durable: true).isEmpty)
        #expect(scheduler.enqueue("m3", session: "a", durable: true).isEmpty)
        #expect(scheduler.view(of: "a").position == 3)
        #expect(scheduler.turnEnded(session: "a") == [.init(message: "m2", session: "a")])
        #expect(scheduler.turnEnded(session: "a") == [.init(message: "m3", session: "a")])
        #expect(scheduler.turnEnded(session: "a").isEmpty)
        #expect(!scheduler.isBusy("a"))
        #expect(scheduler.runningCount == 0 && scheduler.waitingCount == 0)
    }

    @Test func aMessageStartsOnlyOnceDurableAndNeverOvertakesAnEarlierOne() {
        var scheduler = TurnScheduler(maxConcurrentTurns: 10)
        #expect(scheduler.enqueue("m1", session: "a", durable: false).isEmpty)
        #expect(scheduler.enqueue("m2", session: "a", durable: false).isEmpty)
        // The second commit finishes first: it must still wait for m1.
        #expect(scheduler.markDurable("m2", session: "a").isEmpty)
        #expect(scheduler.markDurable("m1", session: "a") == [.init(message: "m1", session: "a")])
        #expect(scheduler.turnEnded(session: "a") == [.init(message: "m2", session: "a")])
    }

    @Test func droppingASessionsWaitingMessagesLeavesItsTurnAndOtherSessions() {
        var scheduler = TurnScheduler(maxConcurrentTurns: 1)
        _ = scheduler.enqueue("a1", session: "a", durable: true)
        _ = scheduler.enqueue("a2", session: "a", durable: true)
        _ = scheduler.enqueue("a3", session: "a", durable: true)
        _ = scheduler.enqueue("b1", session: "b", durable: true)
        let (dropped, starts) = scheduler.dropWaiting(in: "a")
        #expect(dropped == ["a2", "a3"] && starts.isEmpty)
        #expect(scheduler.runningMessage(of: "a") == "a1" && scheduler.waitingCount == 1)
        #expect(scheduler.turnEnded(session: "a") == [.init(message: "b1", session: "b")])
        #expect(scheduler.dropWaiting(in: "a") == ([], []))
    }

    @Test func aFailedCommitLeavesNoTrace() {
        var scheduler = TurnScheduler(maxConcurrentTurns: 10)
        _ = scheduler.enqueue("m1", session: "a", durable: false)
        _ = scheduler.enqueue("m2", session: "a", durable: true)
        #expect(scheduler.remove("m1", session: "a") == [.init(message: "m2", session: "a")])
        #expect(scheduler.waitingCount == 0)
    }

    @Test func theTurnLimitHoldsAcrossSessionsAndFreesInArrivalOrder() {
        var scheduler = TurnScheduler(maxConcurrentTurns: 2)
        #expect(scheduler.enqueue("a1", session: "a", durable: true).count == 1)
        #expect(scheduler.enqueue("b1", session: "b", durable: true).count == 1)
        #expect(scheduler.enqueue("c1", session: "c", durable: true).isEmpty)
        #expect(scheduler.enqueue("d1", session: "d", durable: true).isEmpty)
        #expect(!scheduler.wouldStartImmediately(given: scheduler.view(of: "e")))
        #expect(scheduler.runningCount == 2)
        #expect(scheduler.turnEnded(session: "b") == [.init(message: "c1", session: "c")])
        #expect(scheduler.turnEnded(session: "a") == [.init(message: "d1", session: "d")])
    }

    @Test func drainingStartsNothingButKeepsTheQueue() {
        var scheduler = TurnScheduler(maxConcurrentTurns: 10)
        _ = scheduler.enqueue("m1", session: "a", durable: true)
        _ = scheduler.enqueue("m2", session: "a", durable: true)
        scheduler.startDraining()
        #expect(scheduler.enqueue("n1", session: "b", durable: true).isEmpty)
        #expect(scheduler.turnEnded(session: "a").isEmpty)
        #expect(scheduler.waitingMessages(of: "a") == ["m2"])
        #expect(scheduler.waitingMessages(of: "b") == ["n1"])
        #expect(scheduler.runningCount == 0)
    }
}
