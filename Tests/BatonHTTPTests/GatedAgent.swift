import BatonCore
import Synchronization

/// An agent whose turns wait until the test lets them finish, so ordering tests do not
/// depend on timing. A released text stays released for later turns.
final class GatedAgent: Agent {
    private struct State {
        var waiting: [String: (text: String, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var released: Set<String> = []
        var releaseAll = false
    }

    private let state = Mutex(State())
    /// Every turn as it starts.
    let started: AsyncStream<TurnRequest>
    private let startedContinuation: AsyncStream<TurnRequest>.Continuation

    init() {
        (started, startedContinuation) = AsyncStream.makeStream(of: TurnRequest.self)
    }

    var kind: AgentConfiguration.Kind { .demo }

    nonisolated(nonsending) func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
        startedContinuation.yield(turn)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.releaseAll || state.released.contains(turn.text) || Task.isCancelled { return true }
                    state.waiting[turn.id] = (turn.text, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: turn.id) }?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
        try await reply("answer to \(turn.text)")
    }

    /// Lets turns of messages with this text finish, now and later.
    func release(_ text: String) {
        let continuations = state.withLock { state in
            state.released.insert(text)
            let matching = state.waiting.filter { $0.value.text == text }
            for key in matching.keys { state.waiting[key] = nil }
            return matching.values.map(\.continuation)
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Lets every turn finish, now and later.
    func releaseAll() {
        let continuations = state.withLock { state in
            state.releaseAll = true
            defer { state.waiting = [:] }
            return state.waiting.values.map(\.continuation)
        }
        for continuation in continuations { continuation.resume() }
    }

    /// Waits until a turn for `text` has started.
    func waitUntilStarted(_ text: String) async {
        for await turn in started where turn.text == text { return }
    }
}
