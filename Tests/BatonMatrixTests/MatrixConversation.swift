import BatonTestSupport
import Foundation

/// One test's Matrix world: a real Synapse, the real `baton` binary as the bot `@baton`,
/// `@alice` (in `admins`) and `@bob`, and a room alice made with both of them and the bot.
struct MatrixConversation: Sendable {
    let synapse: Synapse
    let fixture: BatonFixture
    /// The first `baton serve`; a test that restarts it starts the next one from `fixture`.
    let server: BatonServer
    let bot: MatrixTestUser
    let alice: MatrixTestUser
    let bob: MatrixTestUser
    let room: String
    /// The configuration's `matrix:` section, for a second Baton on the same account.
    let matrixYAML: String

    /// Waits until every one of `messages` has a reply from the bot.
    @discardableResult
    func waitForReplies(to messages: [String], timeout: Duration = .seconds(90)) async throws -> [MatrixTestUser.RoomMessage] {
        try await bob.waitForReplies(from: bot.userID, to: messages, in: room, timeout: timeout)
    }

    /// Waits for a notice from the bot whose text contains `text`.
    @discardableResult
    func waitForNotice(containing text: String, timeout: Duration = .seconds(60)) async throws -> MatrixTestUser.RoomMessage {
        let bot = bot.userID
        let seen = try await bob.waitForMessages(in: room, "a notice containing \"\(text)\"", timeout: timeout) { seen in
            seen.contains { $0.sender == bot && $0.msgtype == "m.notice" && $0.body.contains(text) }
        }
        return seen.first { $0.sender == bot && $0.msgtype == "m.notice" && $0.body.contains(text) }!
    }

    /// The Matrix adapter's part of `/v1/status`.
    func adapterStatus() async throws -> NetworkStatusBody? {
        try await fixture.client.status().networks?["matrix"]
    }

    /// Waits until the bot has joined the room (it accepts alice's invite by itself).
    func waitUntilJoined() async throws {
        let room = room
        _ = try await eventually("the bot to join \(room)", timeout: .seconds(60), interval: .milliseconds(100)) {
            try await self.adapterStatus()?.rooms.contains(room) == true ? true : nil
        }
    }

    /// Asserts-by-throwing that no message got two replies; returns each reply count.
    func replyCounts() async throws -> [String: Int] {
        try await bob.replyCounts(from: bot.userID, in: room)
    }
}

/// Runs `body` in a fresh ``MatrixConversation`` (Baton started and in the room), with the
/// demo agent unless `agentCommand` names an exec agent. `rooms` go to `matrix.rooms`;
/// `synapseConfiguration` (YAML) to the end of the homeserver's configuration.
func withMatrixConversation<T: Sendable>(
    agentDelay: Double = 0.2, agentCommand: [String]? = nil, botToken: String? = nil, rooms: [String] = [],
    maxMessageBytes: Int? = nil, busyInput: String = "queue", synapseConfiguration: String = "",
    _ body: (MatrixConversation) async throws -> T
) async throws -> T {
    try await withSynapse(extraConfiguration: synapseConfiguration) { synapse in
        let bot = try await synapse.register("baton")
        let alice = try await synapse.register("alice")
        let bob = try await synapse.register("bob")
        defer {
            for user in [bot, alice, bob] { user.close() }
        }
        let yaml = """
            matrix:
              homeserver: \(synapse.baseURL)
              user_id: "\(bot.userID)"
              access_token: "\(botToken ?? bot.accessToken)"
              auto_join: admins
              rooms: [\(rooms.map { "\"\($0)\"" }.joined(separator: ", "))]

            """
        return try await withBatonFixture({ configuration in
            configuration.admins = [alice.userID]
            configuration.agentDelay = agentDelay
            configuration.agentCommand = agentCommand
            configuration.maxMessageBytes = maxMessageBytes
            configuration.busyInput = busyInput
            configuration.extraYAML = yaml
        }) { fixture in
            let server = try await fixture.startServer()
            let room = try await alice.createRoom(inviting: [bob.userID, bot.userID])
            try await bob.join(room)
            let conversation = MatrixConversation(
                synapse: synapse, fixture: fixture, server: server, bot: bot, alice: alice, bob: bob, room: room, matrixYAML: yaml)
            if botToken == nil { try await conversation.waitUntilJoined() }
            return try await body(conversation)
        }
    }
}
