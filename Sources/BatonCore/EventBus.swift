import Synchronization

/// Hands committed session events to the streams open on them.
///
/// Events are published by ``StoreWriter`` after their commit, in id order. A stream that
/// falls far behind drops its oldest buffered events and fills the gap from the store.
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

    private struct State {
        var nextID: UInt64 = 0
        var subscribers: [String: [UInt64: AsyncStream<Item>.Continuation]] = [:]
        var goodbye: Goodbye?
    }

    private let state = Mutex(State())
    private let bufferLimit: Int

    public init(bufferLimit: Int = 1024) {
        self.bufferLimit = bufferLimit
    }

    /// Starts a feed of the session's events published from now on.
    public func subscribe(session: String) -> Subscription {
        let (stream, continuation) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(bufferLimit))
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            if let goodbye = state.goodbye {
                continuation.yield(.goodbye(goodbye))
                continuation.finish()
            } else {
                state.subscribers[session, default: [:]][state.nextID] = continuation
            }
            return state.nextID
        }
        return Subscription(id: id, session: session, items: stream)
    }

    public func unsubscribe(_ subscription: Subscription) {
        let continuation = state.withLock { state in
            let continuation = state.subscribers[subscription.session]?.removeValue(forKey: subscription.id)
            if state.subscribers[subscription.session]?.isEmpty == true {
                state.subscribers[subscription.session] = nil
            }
            return continuation
        }
        continuation?.finish()
    }

    /// Delivers committed events, in the order given.
    public func publish(_ events: some Sequence<SessionEvent>) {
        state.withLock { state in
            for event in events {
                for continuation in state.subscribers[event.session]?.values ?? [:].values {
                    continuation.yield(.event(event))
                }
            }
        }
    }

    /// Sends `goodbye` to every open stream and ends it; later subscribers get it at once.
    public func close(with goodbye: Goodbye) {
        let continuations = state.withLock { state in
            state.goodbye = goodbye
            defer { state.subscribers = [:] }
            return state.subscribers.values.flatMap(\.values)
        }
        for continuation in continuations {
            continuation.yield(.goodbye(goodbye))
            continuation.finish()
        }
    }

    /// Streams open now.
    public var subscriberCount: Int {
        state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } }
    }
}
