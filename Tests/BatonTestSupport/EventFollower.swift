import Foundation

/// Everything one client saw on a session's event stream, across reconnections.
///
/// A follower reconnects with `Last-Event-ID` whenever the stream ends (a `goodbye`, a
/// crash), the way a chat client does, and keeps every event it was sent, duplicates
/// included, so a test can check that none came twice.
public final class EventLog: Sendable {
    public struct Snapshot: Sendable {
        public var events: [ServerSentEvent] = []
        /// Streams the server answered so far.
        public var opened = 0
        /// Why streams failed (a crash resets them; that is expected).
        public var failures: [String] = []
    }

    public let session: String
    private let state = ObservedState(Snapshot())

    public init(session: String) {
        self.session = session
    }

    public var snapshot: Snapshot { state.value }
    public var events: [ServerSentEvent] { state.value.events }

    /// Waits until `condition` holds for the events seen so far, and returns them.
    @discardableResult
    public func wait(
        timeout: Duration = .seconds(30), _ what: String, until condition: @escaping @Sendable ([ServerSentEvent]) -> Bool
    ) async throws -> [ServerSentEvent] {
        try await waitForSnapshot(timeout: timeout, what) { condition($0.events) }.events
    }

    /// Waits until a stream is open: every event committed from now on will be seen.
    public func waitUntilOpen(timeout: Duration = .seconds(30)) async throws {
        try await waitForSnapshot(timeout: timeout, "an open stream") { $0.opened > 0 }
    }

    /// Waits until every message in `messages` has a reply.
    @discardableResult
    public func waitForReplies(to messages: [SentMessage], timeout: Duration = .seconds(30)) async throws -> [ServerSentEvent] {
        let ids = Set(messages.map(\.id))
        return try await wait(timeout: timeout, "replies to \(messages.map(\.text))") { events in
            ids.isSubset(of: Set(events.replyTargets))
        }
    }

    @discardableResult
    private func waitForSnapshot(
        timeout: Duration, _ what: String, until condition: @escaping @Sendable (Snapshot) -> Bool
    ) async throws -> Snapshot {
        let state = self.state
        do {
            return try await withTimeout(timeout, waitingFor: "\(what) on session \(session)") {
                try await state.wait { condition($0) ? $0 : nil }
            }
        } catch let error as TimeoutError {
            throw TimeoutError("\(error.description); saw \(snapshot)")
        }
    }

    /// Follows the session until cancelled, resuming after the last event id seen.
    func follow(with client: BatonHTTPClient, after start: Int64?) async {
        var last = start
        while !Task.isCancelled {
            var numbered = 0
            do {
                try await client.streamEvents(session: session, lastEventID: last) {
                    state.update { $0.opened += 1 }
                } onEvent: { event in
                    state.update { $0.events.append(event) }
                    if let id = event.id {
                        last = id
                        numbered += 1
                    }
                    return true
                }
                // Only a goodbye: the old process still accepts while it closes. Let it go.
                if numbered == 0 { try? await Task.sleep(for: .milliseconds(20)) }
            } catch {
                if Task.isCancelled { return }
                state.update { $0.failures.append("\(error)") }
                // Under systemd the listener outlives the process, so a new connection waits
                // for the next one rather than failing; this pause only bounds the retries
                // while no process (and no systemd) holds the port.
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

extension EventLog.Snapshot: CustomStringConvertible {
    public var description: String {
        "\(opened) streams opened, failures: \(failures)\n" + events.map(\.description).joined(separator: "\n")
    }
}

/// Follows the event streams of `sessions` while `body` runs, then stops following.
public func withEventFollowers<T: Sendable>(
    _ client: BatonHTTPClient,
    sessions: [String],
    after start: Int64? = nil,
    _ body: @escaping @Sendable ([String: EventLog]) async throws -> T
) async throws -> T {
    let logs = Dictionary(uniqueKeysWithValues: sessions.map { ($0, EventLog(session: $0)) })
    return try await withThrowingTaskGroup(of: T?.self) { group in
        for log in logs.values {
            group.addTask {
                await log.follow(with: client, after: start)
                return nil
            }
        }
        group.addTask { try await body(logs) }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result { return result }
        }
        fatalError("the body's task always returns a value")
    }
}
