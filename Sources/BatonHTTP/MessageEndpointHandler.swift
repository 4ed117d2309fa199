import BatonCore
import DequeModule
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers one connection's messages (``MessageEndpoint``) and passes every other request
/// on to the router, so that the connection's answers go out in the order its requests
/// came (HTTP/1.1 has no other way to match them).
///
/// One request is answered at a time: requests that come while a message is being
/// answered, or while the router answers an earlier request, wait here, and are read once
/// that answer is written.
///
/// The connection ends as the router would end it: after an answer that says
/// `Connection: close` (the request asked for it, or a drain began), with the requests
/// behind it left unread (nor stored: the client sends them again elsewhere), or after a
/// 400 when the message's body could not be read.
///
/// Input is read only as fast as answers are taken: no more is read while requests read
/// before wait here (at most what one read brought), or while the client leaves its
/// answers unread (the channel is not writable). A client that pipelines requests and
/// never reads is held by TCP's own flow control, not by Baton's memory.
///
/// A message sent with `Expect: 100-continue` is told `100 Continue` when it may be
/// taken, or refused at once (its token, its coding, a `Content-Length` over the limit),
/// before the client sends a body nobody would read; the connection then ends.
///
/// In the pipeline behind Hummingbird's connection state, in front of its async channel:
/// the state and ``RequestProgressHandler`` see every request and every answer, whichever
/// way it went.
final class MessageEndpointHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// A message being read.
    private struct Reading {
        /// The connection's logger, naming the caller's token.
        var logger: Logger
        /// Who sent it, or the token check's answer refusing it.
        var caller: Result<Caller, APIError>
        /// What is wrong with the body, once something is.
        var bodyProblem: APIError?
        /// The connection closes after the answer.
        var closes: Bool
    }

    private let endpoint: MessageEndpoint
    private let logger: Logger
    private var reading: Reading?
    private var body = ByteBuffer()
    /// Whether a message's answer is on its way.
    private var answering = false
    /// Requests passed to the router whose answer has not ended yet.
    private var routed = 0
    /// The request passed to the router is still coming in (its end not yet passed on).
    private var routedRequestOpen = false
    /// The router's answer being written says `Connection: close`: nothing behind it is read.
    private var routedAnswerCloses = false
    /// Parts that came while an answer was under way or the client took none, in order.
    private var held: Deque<HTTPRequestPart> = []
    /// The client's end of the connection closed while a message was read or answered:
    /// passed on behind its answer, or the router's connection task would close the
    /// connection before it.
    private var inputClosed = false
    /// An error from the parts held while a message was answered: passed on behind them.
    private var heldError: (any Error)?
    /// The connection closed: an answer that comes later has nowhere to go.
    private var removed = false
    /// A read the channel asked for while input was held back: passed on once it is taken again.
    private var readHeld = false

    init(endpoint: MessageEndpoint, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if holdsParts(context) {
            held.append(part)
        } else {
            take(part, context: context)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Behind what waits here; a stream the router answers hears of it at once.
        if case .inputClosed? = event as? ChannelEvent, reading != nil || answering || !held.isEmpty {
            inputClosed = true
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if answering || !held.isEmpty {
            heldError = heldError ?? error
        } else if var message = reading {
            // The body's framing broke, or the connection ended inside it: the client's
            // fault, answered 400, and the rest of the connection cannot be read.
            reading = nil
            message.bodyProblem = MessagesController.brokenBody
            message.closes = true
            answer(message, context: context)
        } else if let malformed = error as? HTTPParserError, routed == 0 {
            // A request that is not HTTP/1.1 Baton can read, with nothing before it to
            // answer: a 400 like every other answer (stamped, saying why), then the end.
            let problem = APIError(.badRequest, "The request is not valid HTTP/1.1 (\(malformed)); the connection ends")
            respond(MessagesController.Answer(problem), closing: true, context: context)
        } else {
            context.fireErrorCaught(error)
        }
    }

    /// A read is held back once parts wait here or the client is not taking its answers;
    /// not merely while an answer is under way, so a client that waits for each answer
    /// costs no turning of the socket's read interest off and on.
    func read(context: ChannelHandlerContext) {
        if !held.isEmpty || !context.channel.isWritable {
            readHeld = true
        } else {
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { takeHeld(context: context) }
        context.fireChannelWritabilityChanged()
    }

    /// Whether a part that comes now waits in `held`: a message is being answered, parts
    /// came before it that wait, or the client is not taking its answers (a request passed
    /// on now would add its answer to those piling up).
    private func holdsParts(_ context: ChannelHandlerContext) -> Bool {
        waitsForAnAnswer || !held.isEmpty || !context.channel.isWritable
    }

    /// Whether a request's answer is under way, the request read in full: a message's, or
    /// the router's.
    private var waitsForAnAnswer: Bool {
        answering || (routed > 0 && !routedRequestOpen)
    }

    /// Passes on the read held back, once input is taken again.
    private func resumeReading(context: ChannelHandlerContext) {
        guard readHeld, held.isEmpty, context.channel.isWritable else { return }
        readHeld = false
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // Only the router's answers come through here: this handler writes its own in front of itself.
        let part = unwrapOutboundIn(data)
        if case .head(let head) = part, head.status.kind != .informational {
            routedAnswerCloses = RequestProgressHandler.asksToClose(head.headerFields)
        }
        context.write(data, promise: promise)
        guard case .end = part else { return }
        routed = max(0, routed - 1)
        if routedAnswerCloses {
            // The connection closes once this answer is out: what waits is never answered.
            held = []
            return
        }
        // On a later turn of the loop, not from inside the router's write.
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = handler.value
            if !handler.removed { handler.takeHeld(context: context) }
        }
    }

    private func take(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head) where routed == 0 && endpoint.serves(head):
            let message = start(head, peer: context.channel.remoteAddress)
            guard Self.expectsContinue(head.headerFields) else {
                reading = message
                return
            }
            // The client waits to be told before it sends the body: refused now, the body
            // is never sent, and the connection ends (whatever was sent anyway is unread).
            if case .success = message.caller, message.bodyProblem == nil, !declaresTooLarge(head.headerFields) {
                reading = message
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            } else {
                var refused = message
                refused.bodyProblem = refused.bodyProblem ?? endpoint.controller.tooLarge
                refused.closes = true
                answer(refused, context: context)
            }
        case .head:
            routed += 1
            routedRequestOpen = true
            context.fireChannelRead(wrapInboundOut(part))
        case .body(var chunk) where reading != nil:
            guard case .success = reading?.caller, reading?.bodyProblem == nil else { return }
            // One byte over the limit is enough to know it is too large (the parser says by how much).
            if body.readableBytes + chunk.readableBytes > endpoint.controller.parser.maxBodyBytes + 1 {
                reading?.bodyProblem = endpoint.controller.tooLarge
                body.clear()
            } else {
                body.writeBuffer(&chunk)
            }
        case .end where reading != nil:
            let message = reading!
            reading = nil
            answer(message, context: context)
        case .body, .end:
            if case .end = part { routedRequestOpen = false }
            context.fireChannelRead(wrapInboundOut(part))
        }
    }

    /// A message's reading begun: its caller, or why it is refused.
    private func start(_ head: HTTPRequest, peer: SocketAddress?) -> Reading {
        let caller = Result { () throws(APIError) in
            try endpoint.authentication.caller(of: head.headerFields, authority: head.authority, peer: peer, logger: logger)
        }
        body.clear()
        return Reading(
            logger: (try? caller.get()).map { endpoint.authentication.logger(logger, naming: $0) } ?? logger,
            caller: caller, bodyProblem: MessagesController.unsupportedCoding(head.headerFields),
            closes: RequestProgressHandler.asksToClose(head.headerFields))
    }

    /// Whether a request asks to be told to go on before it sends its body.
    private static func expectsContinue(_ fields: HTTPFields) -> Bool {
        fields[values: .expect].contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "100-continue" }
    }

    /// Whether a request's `Content-Length` is over the limit on a message's body.
    private func declaresTooLarge(_ fields: HTTPFields) -> Bool {
        guard let length = fields[.contentLength].flatMap({ Int($0) }) else { return false }
        return length > endpoint.controller.parser.maxBodyBytes
    }

    /// Answers the message: a refused one at once, any other through the gateway, on a
    /// task of its own. Either way the answer is written on a later turn of the event
    /// loop, never from inside this read.
    private func answer(_ message: Reading, context: ChannelHandlerContext) {
        answering = true
        let body: Result<ByteBuffer, APIError> = message.bodyProblem.map { .failure($0) } ?? .success(self.body)
        self.body = ByteBuffer()
        let (controller, logger, closes) = (endpoint.controller, message.logger, message.closes)
        let handler = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        switch message.caller {
        case .failure(let refusal):
            context.eventLoop.execute {
                let (handler, context) = handler.value
                handler.respond(MessagesController.Answer(refusal), closing: closes, context: context)
            }
        case .success(let caller):
            Task {
                let answer = await controller.answer(to: body, caller: caller, logger: logger)
                handler.eventLoop.execute {
                    let (handler, context) = handler.value
                    handler.respond(answer, closing: closes, context: context)
                }
            }
        }
    }

    /// Writes a message's answer; then closes the connection, or reads the requests that
    /// came meanwhile.
    private func respond(_ answer: MessagesController.Answer, closing asked: Bool, context: ChannelHandlerContext) {
        guard !removed else { return }
        var headers = answer.headers
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(answer.body.readableBytes)
        endpoint.stamping.stamp(&headers)
        // A drain closes connections too: the requests behind this one are not read (a
        // message among them would be stored, and its answer never sent).
        let closing = asked || RequestProgressHandler.asksToClose(headers)
        if closing { headers[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        answering = false
        guard !closing else {
            held = []
            // Closed once the end is on the wire: the client reads the whole answer, then
            // the end of the connection.
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        takeHeld(context: context)
    }

    /// Takes the parts held, in order, until a message is being answered again or the
    /// client stops taking answers; once none is left, what came behind them (an error,
    /// the end of the input), then more input.
    private func takeHeld(context: ChannelHandlerContext) {
        let replaying = !held.isEmpty
        while !waitsForAnAnswer, context.channel.isWritable, let part = held.popFirst() {
            take(part, context: context)
        }
        // The async channel hands on what it was given at the end of a read: without
        // this, a request that came behind the message would wait for the client's next bytes.
        if replaying { context.fireChannelReadComplete() }
        guard !waitsForAnAnswer, held.isEmpty else { return }
        if let error = heldError {
            // Behind the requests that came before it, as the router would have it; a
            // message it cut short is answered 400.
            heldError = nil
            errorCaught(context: context, error: error)
            return
        }
        if inputClosed, reading == nil {
            inputClosed = false
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
        resumeReading(context: context)
    }
}
