import Synchronization

/// Hands committed session events to the streams open on them.
///
/// Events are published by ``StoreWriter`` after their commit, in id order. A stream that
/// falls far behind drops its oldest buffered events and fills the gap from the store.
///
/// For each session followed it remembers the newest event published, so that a process
/// that may have missed some (a peer's, while it did not hear of them) can publish what
/// came after it (``following``), and no event goes out twice. That is forgotten once
/// nothing follows the session.
public final class EventBus: Sendable {
    /// What an open stream receives.
    public enum Item: Sendable, Equatable {
        case event(SessionEvent)
        case goodbye(Goodbye)
    }

    /// An open stream's feed; unsubscribe when done.
    public struct Subscription: Sendable {
        public let id: UInt64
        public let session: String
        public let items: AsyncStream<Item>
    }

    /// What open streams follow, and what they were given: see ``following``.
    public struct Following: Sendable, Equatable {
        /// Sessions with a stream of their own.
        public var sessions: Set<String>
        /// Prefixes of the feeds of every session whose name starts with one.
        public var prefixes: Set<String>
        /// The newest event published for each followed session since it came to be
        /// followed; a session that has had none is missing.
        public var published: [String: Int64]

        /// Whether nothing is followed.
        public var isEmpty: Bool { sessions.isEmpty && prefixes.isEmpty }
    }

    private struct State {
        var nextID: UInt64 = 0
        var subscribers: [String: [UInt64: AsyncStream<Item>.Continuation]] = [:]
        /// Feeds of every session's events whose name starts with `prefix`, by subscription id.
        var everything: [UInt64: (prefix: String, continuation: AsyncStream<Item>.Continuation)] = [:]
        /// The newest event published, by session, for followed sessions only.
        var published: [String: Int64] = [:]
        var goodbye: Goodbye?

        func isFollowed(_ session: String) -> Bool {
            subscribers[session] != nil || everything.values.contains { session.hasPrefix($0.prefix) }
        }
    }

    /// Events larger than this reach session streams as wake-ups (their data empty).
    public static let largeEventBytes = 16 * 1024

    private let state = Mutex(State())
    /// Events a stream's feed holds for it before dropping the oldest.
    public let bufferLimit: Int

    public init(bufferLimit: Int = 1024) {
        self.bufferLimit = bufferLimit
    }

    /// Starts a feed of the session's events published from now on.
    public func subscribe(session: String) -> Subscription {
        makeSubscription(session: session) { state, id, continuation in
            state.subscribers[session, default: [:]][id] = continuation
        }
    }

    /// Starts a feed of the events of every session whose name starts with `prefix`,
    /// published from now on (a chat network's outbox follows all of its rooms through one,
    /// and none of the other sessions'). Its ``Subscription/session`` is empty.
    ///
    /// Its items carry each event's session, id and kind, not its data: they wake a reader
    /// of the store, and a feed held up for long (its network refusing every send) would
    /// otherwise keep the text of every event published meanwhile.
    public func subscribeToAll(sessionsStartingWith prefix: String) -> Subscription {
        makeSubscription(session: "") { state, id, continuation in state.everything[id] = (prefix, continuation) }
    }

    private func makeSubscription(
        session: String, register: (inout State, UInt64, AsyncStream<Item>.Continuation) -> Void
    ) -> Subscription {
        // A feed of everything wakes a chat network's outbox, which reads the events from the
        // store; it must not lose the wake-up of a session's last event, and its items are small.
        let buffering: AsyncStream<Item>.Continuation.BufferingPolicy = session.isEmpty ? .unbounded : .bufferingNewest(bufferLimit)
        let (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: buffering)
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            if let goodbye = state.goodbye {
                continuation.yield(.goodbye(goodbye))
                continuation.finish()
            } else {
                register(&state, state.nextID, continuation)
            }
            return state.nextID
        }
        return Subscription(id: id, session: session, items: stream)
    }

    public func unsubscribe(_ subscription: Subscription) {
        if subscription.session.isEmpty {
            state.withLock { state in
                let feed = state.everything.removeValue(forKey: subscription.id)
                for session in state.published.keys where !state.isFollowed(session) {
                    state.published[session] = nil
                }
                return feed
            }?.continuation.finish()
            return
        }
        let continuation = state.withLock { state in
            let continuation = state.subscribers[subscription.session]?.removeValue(forKey: subscription.id)
            if state.subscribers[subscription.session]?.isEmpty == true {
                state.subscribers[subscription.session] = nil
                if !state.isFollowed(subscription.session) { state.published[subscription.session] = nil }
            }
            return continuation
        }
        continuation?.finish()
    }

    /// Delivers committed events, in the order given. An event at or below the newest one
    /// published for its session is left out: its streams had it, or fill the gap below
    /// the newer one from the store.
    public func publish(_ events: some Sequence<SessionEvent>) {
        state.withLock { state in
            for event in events {
                guard state.isFollowed(event.session), event.id > state.published[event.session] ?? 0 else { continue }
                state.published[event.session] = event.id
                let wakeUp = SessionEvent(session: event.session, id: event.id, kind: event.kind, data: "")
                // A large event (a long reply) goes out as a wake-up, read from the store by
                // each stream as it writes it: a buffer of events held for a slow reader is
                // then bounded by ``largeEventBytes`` each, not by the largest reply.
                let item = Item.event(event.data.utf8.count > Self.largeEventBytes ? wakeUp : event)
                for continuation in state.subscribers[event.session]?.values ?? [:].values {
                    continuation.yield(item)
                }
                guard !state.everything.isEmpty else { continue }
                for (prefix, continuation) in state.everything.values where event.session.hasPrefix(prefix) {
                    continuation.yield(.event(wakeUp))
                }
            }
        }
    }

    /// Sends `goodbye` to every open stream and ends it; later subscribers get it at once.
    public func close(with goodbye: Goodbye) {
        let continuations = state.withLock { state in
            state.goodbye = goodbye
            defer {
                state.subscribers = [:]
                state.everything = [:]
                state.published = [:]
            }
            return state.subscribers.values.flatMap(\.values) + state.everything.values.map(\.continuation)
        }
        for continuation in continuations {
            continuation.yield(.goodbye(goodbye))
            continuation.finish()
        }
    }

    /// Whether a stream follows the session (or every session like it): events a peer
    /// process stored need reading only then.
    public func isFollowed(session: String) -> Bool {
        state.withLock { $0.isFollowed(session) }
    }

    /// What open streams follow and the newest event published for each session followed:
    /// a process that may have missed events (a peer's, while it did not hear of them)
    /// publishes what the store has after that.
    public var following: Following {
        state.withLock { state in
            Following(sessions: Set(state.subscribers.keys), prefixes: Set(state.everything.values.map(\.prefix)), published: state.published)
        }
    }

    /// Streams open now.
    public var subscriberCount: Int {
        state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } }
    }
}
