import AsyncHTTPClient
import BatonCore
import Foundation
import Logging
import NIOCore

/// `agent.kind: http`: one `POST agent.url` per turn.
///
/// The body is the turn's ``TurnRequest`` as JSON; the headers `Baton-Instance`,
/// `Baton-Session` and `Idempotency-Key` (the message id, the same when a turn is run
/// again after a restart) come with it. The response body is the reply:
/// - `application/json`: `{"text": "..."}`;
/// - `text/event-stream`: the `data` of every event, each `{"text": "..."}` or plain
///   text, joined into one reply when the stream ends; an `error` event fails the turn;
/// - anything else: the body as plain text.
///
/// An empty body (or `204`) is a turn without a reply. Any other status than 2xx, a
/// refused or broken connection, or no answer in time fails the turn with an `error`
/// notice naming the cause. Interrupting the turn cancels the request.
public struct HTTPAgent: Agent {
    /// Where each turn is posted.
    public let url: String
    let client: HTTPClient
    let failures: TransportFailures?
    let logger: Logger

    /// - Parameters:
    ///   - connections: how many turns may reach the agent at once
    ///     (`agent.max_concurrent_turns`).
    ///   - failures: told about every turn that could not reach the agent.
    public init(url: String, connections: Int, failures: TransportFailures? = nil, logger: Logger) {
        self.init(url: url, client: AgentHTTPClient.forTurns(connections: connections), failures: failures, logger: logger)
    }

    init(url: String, client: HTTPClient, failures: TransportFailures?, logger: Logger) {
        self.url = url
        self.client = client
        self.failures = failures
        self.logger = logger
    }

    public var kind: AgentConfiguration.Kind { .http }

    @concurrent public func runTurn(_ turn: TurnRequest, reply: nonisolated(nonsending) @Sendable (String) async throws -> Void) async throws {
        var logger = logger
        logger[metadataKey: "baton.session"] = "\(turn.session)"
        logger[metadataKey: "baton.message"] = "\(turn.id)"
        logger[metadataKey: "baton.instance"] = "\(turn.instance)"

        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, text/event-stream, text/plain")
        request.headers.add(name: "Baton-Instance", value: turn.instance)
        request.headers.add(name: "Baton-Session", value: turn.session)
        request.headers.add(name: "Idempotency-Key", value: turn.id)
        request.body = .bytes(ByteBuffer(bytes: try WireFormat.encoder.encode(turn)))

        let text: String?
        do {
            // The gateway bounds the turn with agent.turn_timeout and cancels it.
            let response = try await client.execute(request, deadline: .distantFuture, logger: logger)
            text = try await Self.reply(from: response, logger: logger)
        } catch {
            throw failure(error, logger: logger)
        }
        try Task.checkCancellation()
        if let text { try await reply(text) }
    }

    /// What the response says, or why it is not an answer.
    private static func reply(from response: HTTPClientResponse, logger: Logger) async throws -> String? {
        guard (200..<300).contains(response.status.code) else {
            let body = (try? await response.body.collect(upTo: 4096)).map { String(buffer: $0) } ?? ""
            logger.warning("Agent answered with an error", metadata: ["baton.status": "\(response.status.code)", "baton.body": "\(body)"])
            throw AgentError(.agentFailed, "The agent answered HTTP \(response.status.code) \(response.status.reasonPhrase) and this message was not answered.")
        }
        let mediaType = response.headers.first(name: "Content-Type")?.split(separator: ";").first
            .map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if mediaType == "text/event-stream" {
            return try await streamedReply(response.body)
        }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: ReplyText.maxBytes)
        } catch is NIOTooManyBytesError {
            throw AgentError(.agentFailed, "The agent's reply was longer than \(ReplyText.maxBytes / 1024) KiB and was not delivered.")
        }
        let bytes = body.readableBytesView
        if mediaType == "application/json" || mediaType.hasSuffix("+json") {
            guard let text = ReplyText.decode(bytes) else {
                guard bytes.contains(where: { !ReplyText.isWhitespace($0) }) else { return nil }
                throw AgentError(.agentFailed, "The agent answered JSON without a \"text\" string, so there was no reply.")
            }
            return text
        }
        return ReplyText.plain(bytes)
    }

    /// A `text/event-stream` body as one reply: every event's text, in order.
    private static func streamedReply(_ body: HTTPClientResponse.Body) async throws -> String? {
        var parser = ServerSentEventParser()
        var text = ""
        var received = 0
        func take(_ events: [ServerSentEvent]) throws {
            for event in events {
                let piece = ReplyText.decode(event.data.utf8) ?? event.data
                if event.name == "error" {
                    throw AgentError(.agentFailed, "The agent reported an error: \(piece)")
                }
                text += piece
            }
        }
        for try await chunk in body {
            received += chunk.readableBytes
            guard received <= ReplyText.maxBytes else {
                throw AgentError(.agentFailed, "The agent's reply was longer than \(ReplyText.maxBytes / 1024) KiB and was not delivered.")
            }
            try take(parser.consume(chunk.readableBytesView))
        }
        try take(parser.finish())
        return text.isEmpty ? nil : text
    }

    /// The error a failed request becomes.
    private func failure(_ error: any Error, logger: Logger) -> any Error {
        if Task.isCancelled || error is CancellationError || (error as? HTTPClientError) == .cancelled {
            return CancellationError()
        }
        if let error = error as? AgentError { return error }
        if let cause = AgentHTTPClient.unreachableCause(error) {
            logger.warning("Agent unreachable", metadata: ["baton.error": "\(error)", "baton.url": "\(url)"])
            failures?.report()
            return AgentError(
                .agentUnreachable,
                "The agent could not be reached (\(cause)). This message was not answered; send it again once the agent is back.")
        }
        logger.warning("Request to the agent failed", metadata: ["baton.error": "\(error)", "baton.url": "\(url)"])
        return AgentError(.agentFailed, "The request to the agent failed (\(error)) and this message was not answered.")
    }
}
