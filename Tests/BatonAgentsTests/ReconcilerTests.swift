import Foundation
import Testing

@testable import BatonCore

extension Gateway {
    /// Leaves `session` busy the way a lost turn task would: the scheduler grants the
    /// turn, and nothing runs it.
    fileprivate func loseTurn(of message: Message) {
        messages[message.id] = message
        _ = scheduler.enqueue(message.id, session: message.session, durable: true)
        publishStatus()
    }
}

/// The reconciler, run by the agent monitor: a session busy without a live turn goes idle.
@Suite struct ReconcilerTests {
    @Test func aSessionLeftBusyByALostTurnIsReturnedToIdle() async throws {
        try await TestGateway.run({ $0.agent.delay = 0 }) { gateway in
            let id = "lost-turn"
            let message = Message(
                id: id, sequence: 0, session: "r1", user: "bob", text: "never answered", state: .running,
                acknowledgement: Acknowledgement(id: id, session: "r1", status: .accepted, position: 0), acceptedAt: Date())
            await gateway.app.gateway.loseTurn(of: message)
            #expect(await gateway.app.gateway.sessionStatus("r1").state == .busy)

            try await gateway.status("the lost turn to be ended") { $0.inFlight == 0 }
            #expect(await gateway.app.gateway.sessionStatus("r1").state == .idle)
            let notice = try await gateway.event(session: "r1", "the lost-turn notice") { $0.isNotice("error", about: id) }
            #expect(notice.text?.contains("lost") == true)
            #expect(!gateway.logEntries(containing: "busy without a live turn").isEmpty)

            let next = try await gateway.send("hello", session: "r1")
            #expect(try await gateway.reply(to: next, session: "r1") == "Demo agent heard bob: hello")
        }
    }

    @Test func aTurnThatIsRunningIsLeftAlone() async throws {
        try await TestGateway.run({ $0.agent.delay = 0.6 }) { gateway in
            let id = try await gateway.send("take your time", session: "r2")
            // Three reconciliations (0.2 s apart) pass while the turn runs; it still answers.
            #expect(try await gateway.reply(to: id, session: "r2") == "Demo agent heard bob: take your time")
            #expect(gateway.logEntries(containing: "busy without a live turn").isEmpty)
        }
    }
}
