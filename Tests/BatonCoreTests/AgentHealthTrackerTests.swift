import BatonCore
import Testing

@Suite struct AgentHealthTrackerTests {
    let start = ContinuousClock.now

    @Test func startingUntilTheFirstSuccessThenDegradedThenOfflineThenReadyAgain() {
        var tracker = AgentHealthTracker(failureThreshold: 2)
        #expect(tracker.health == .starting)
        #expect(tracker.record(succeeded: true, startedAt: start) == .ready)
        #expect(tracker.record(succeeded: false, startedAt: start + .seconds(1)) == .degraded)
        #expect(tracker.record(succeeded: false, startedAt: start + .seconds(2)) == .offline)
        #expect(tracker.record(succeeded: true, startedAt: start + .seconds(3)) == .ready)
        #expect(tracker.consecutiveFailures == 0)
    }

    @Test func aStaleFailureDoesNotDegradeAFreshSuccess() {
        var tracker = AgentHealthTracker(failureThreshold: 1)
        tracker.record(succeeded: true, startedAt: start + .seconds(5))
        #expect(tracker.record(succeeded: false, startedAt: start + .seconds(1)) == .ready)
        #expect(tracker.record(succeeded: true, startedAt: start) == .ready)
    }

    @Test func nothingMovesAReadyAgentBackToStarting() {
        var tracker = AgentHealthTracker(failureThreshold: 3)
        tracker.record(succeeded: true, startedAt: start)
        for second in 1...5 {
            #expect(tracker.record(succeeded: second.isMultiple(of: 2), startedAt: start + .seconds(second)) != .starting)
        }
    }
}
