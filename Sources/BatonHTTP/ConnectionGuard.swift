import NIOCore

/// First in a chat API connection's pipeline: registers the connection with the
/// ``ConnectionRegistry``, follows what it is doing and closes it when it overstays.
///
/// It sees the raw bytes, so it knows when a request begins (its first byte, long before
/// a slow client completes the head); ``RequestProgressHandler``, behind the HTTP decoder,
/// tells it when a request has been read in full and when its response has ended.
/// - idle (connected, or between requests): closed after `idleTimeout`;
/// - reading a request (first byte in, end not yet): closed after `requestTimeout`;
/// - answering (response or event stream under way): no deadline here.
///
/// Whatever the phase, once the client leaves so much of its answers unread that the
/// connection takes no more writes (it pipelines requests and never reads, nobody reads
/// its event stream), it is closed `requestTimeout` after that began unless it reads again.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let registry: ConnectionRegistry
    private var context: ChannelHandlerContext?
    private var id: ConnectionTable.ID?
    /// Whether the registry has heard of this connection's fate: registered, refused or
    /// closed before either.
    private var settled = false
    private var phase: ConnectionTable.Phase = .idle
    /// Between a request's first byte and its end.
    private var reading = false
    /// Whether any byte has arrived yet.
    private var spoken = false
    /// Requests whose head was read and whose response has not ended.
    private var requestsOpen = 0
    /// Since when the client has left its answers unread (the connection takes no more
    /// writes); nil while it takes them.
    private var stalledSince: NIODeadline?
    /// When the connection is closed unless its phase changes first; nil while answering
    /// and the client takes what is written.
    private var closeAt: NIODeadline?
    private var closeReason: ConnectionRegistry.CloseReason = .idle
    /// One timer, checking `closeAt` when it fires.
    private var timer: Scheduled<Void>?
    private var timerFiresAt: NIODeadline?

    init(registry: ConnectionRegistry) {
        self.registry = registry
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { register(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
        settleAsAbandoned()
    }

    func channelActive(context: ChannelHandlerContext) {
        register(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        settleAsAbandoned()
        if let id {
            registry.closed(id)
            self.id = nil
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !spoken, let id {
            spoken = true
            registry.spoke(id)
        }
        if !reading {
            reading = true
            settle()
        }
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stalledSince = context.channel.isWritable ? nil : stalledSince ?? .now()
        arm(for: phase)
        context.fireChannelWritabilityChanged()
    }

    /// A request's head has been decoded.
    func requestHeadRead() {
        requestsOpen += 1
        settle()
    }

    /// A request has been read to its end: its deadline no longer applies.
    func requestEndRead() {
        reading = false
        settle()
    }

    /// A response has been written to its end.
    func responseEndWritten() {
        requestsOpen = max(requestsOpen - 1, 0)
        settle()
    }

    /// Tells the registry this connection closed before it was registered, if so: a
    /// channel closed before it was active reaches `channelInactive` or `handlerRemoved`
    /// without `channelActive`.
    private func settleAsAbandoned() {
        guard !settled else { return }
        settled = true
        registry.abandoned()
    }

    private func register(context: ChannelHandlerContext) {
        guard !settled else { return }
        settled = true
        guard let id = registry.open(context.channel) else {
            context.close(promise: nil)
            return
        }
        self.id = id
        arm(for: .idle)
    }

    /// Moves to the phase the counts say, arming that phase's deadline.
    private func settle() {
        let now: ConnectionTable.Phase = reading ? .reading : requestsOpen > 0 ? .answering : .idle
        guard now != phase, let id else { return }
        phase = now
        registry.update(id, to: now)
        arm(for: now)
    }

    /// Sets the deadline of `phase`. The timer is moved only when it would fire too late:
    /// a keep-alive connection's requests mostly leave it where it is, and when it fires
    /// early it checks the deadline and sets itself again.
    private func arm(for phase: ConnectionTable.Phase) {
        switch phase {
        case .idle: (closeAt, closeReason) = (.now() + registry.limits.idleTimeout, .idle)
        case .reading: (closeAt, closeReason) = (.now() + registry.limits.requestTimeout, .slow)
        case .answering: closeAt = nil
        }
        // A request being read has its own deadline, from its first byte.
        if let stalledSince, phase != .reading {
            (closeAt, closeReason) = (stalledSince + registry.limits.requestTimeout, .stalled)
        }
        guard let closeAt else { return }
        if let timerFiresAt, timerFiresAt <= closeAt { return }
        schedule(at: closeAt)
    }

    private func schedule(at firesAt: NIODeadline) {
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
        guard let context else { return }
        timerFiresAt = firesAt
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: firesAt) { [self] in
            timer = nil
            timerFiresAt = nil
            guard let closeAt else { return }
            guard closeAt <= .now() else { return schedule(at: closeAt) }
            guard let id, let context = self.context else { return }
            registry.closing(id, reason: closeReason)
            context.close(promise: nil)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
    }
}

@available(*, unavailable)
extension ConnectionGuard: Sendable {}
