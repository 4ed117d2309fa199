import BatonCore
import Testing

@Suite struct DrainStateMachineTests {
    let now = ContinuousClock.now
    let timeout = Duration.seconds(60)

    @Test func aDrainWithNothingInFlightFinishesAtOnce() {
        var drain = DrainStateMachine()
        #expect(drain.request(.restart, immediate: false, inFlight: 0, now: now, timeout: timeout) == .finish(reason: .restart))
        #expect(drain.phase == .finished(reason: .restart))
    }

    @Test func aDrainWaitsForInFlightTurnsThenFinishesTheMomentTheLastEnds() {
        var drain = DrainStateMachine()
        #expect(drain.request(.restart, immediate: false, inFlight: 2, now: now, timeout: timeout) == .beginDrain(reason: .restart, deadline: now + timeout))
        #expect(drain.inFlightChanged(to: 1) == .none)
        #expect(drain.inFlightChanged(to: 0) == .finish(reason: .restart))
    }

    @Test func theDeadlineInterruptsOnce() {
        var drain = DrainStateMachine()
        _ = drain.request(.stop, immediate: false, inFlight: 1, now: now, timeout: timeout)
        #expect(drain.deadlinePassed() == .interruptAll)
        #expect(drain.deadlinePassed() == .none)
        #expect(drain.inFlightChanged(to: 0) == .finish(reason: .stop))
    }

    @Test func stopWinsOverRestartAndRestartNeverDowngradesStop() {
        var drain = DrainStateMachine()
        _ = drain.request(.restart, immediate: false, inFlight: 1, now: now, timeout: timeout)
        #expect(drain.request(.stop, immediate: false, inFlight: 1, now: now, timeout: timeout) == .changeReason(.stop))
        #expect(drain.request(.restart, immediate: false, inFlight: 1, now: now, timeout: timeout) == .none)
        #expect(drain.reason == .stop)
        #expect(drain.inFlightChanged(to: 0) == .finish(reason: .stop))
    }

    @Test func aSecondRequestKeepsTheFirstDeadline() {
        var drain = DrainStateMachine()
        _ = drain.request(.restart, immediate: false, inFlight: 1, now: now, timeout: timeout)
        _ = drain.request(.restart, immediate: false, inFlight: 1, now: now + .seconds(30), timeout: timeout)
        #expect(drain.deadline == now + timeout)
    }

    @Test func anImmediateRequestInterruptsAtOnceWhetherFirstOrSecond() {
        var first = DrainStateMachine()
        #expect(first.request(.restart, immediate: true, inFlight: 3, now: now, timeout: timeout) == .beginDrainAndInterrupt(reason: .restart, deadline: now + timeout))

        var second = DrainStateMachine()
        _ = second.request(.stop, immediate: false, inFlight: 3, now: now, timeout: timeout)
        #expect(second.request(.stop, immediate: true, inFlight: 3, now: now, timeout: timeout) == .interruptAll)
        #expect(second.request(.stop, immediate: true, inFlight: 3, now: now, timeout: timeout) == .none)
        #expect(second.deadlinePassed() == .none)
    }

    @Test("Once the drain finished, until the process exits, a stop still wins over a restart; nothing else changes")
    func aStopAfterARestartDrainFinishedStillWins() {
        var drain = DrainStateMachine()
        _ = drain.request(.restart, immediate: false, inFlight: 0, now: now, timeout: timeout)
        #expect(drain.request(.restart, immediate: true, inFlight: 0, now: now, timeout: timeout) == .none)
        #expect(drain.request(.stop, immediate: true, inFlight: 0, now: now, timeout: timeout) == .changeReason(.stop))
        #expect(drain.phase == .finished(reason: .stop))
        #expect(drain.request(.restart, immediate: false, inFlight: 0, now: now, timeout: timeout) == .none)
        #expect(drain.reason == .stop)
    }
}
