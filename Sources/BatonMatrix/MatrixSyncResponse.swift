/// The parts of a `/sync` answer Baton reads, read leniently below `next_batch`: a part of
/// an unexpected shape (an invite's state from another server, say) is left out rather
/// than failing the whole sync, which would be read again, and fail again, for good.
struct MatrixSyncResponse: Decodable, Sendable {
    struct Rooms: Decodable, Sendable {
        var join: [String: JoinedRoom]?
        var invite: [String: InvitedRoom]?
        var leave: [String: LeftRoom]?

        init(from decoder: any Decoder) throws {
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            join = try? container?.decode([String: JoinedRoom].self, forKey: .join)
            invite = try? container?.decode([String: InvitedRoom].self, forKey: .invite)
            leave = try? container?.decode([String: LeftRoom].self, forKey: .leave)
        }

        enum CodingKeys: String, CodingKey { case join, invite, leave }
    }

    struct JoinedRoom: Decodable, Sendable {
        var timeline: Timeline?
        var state: Events?

        init(from decoder: any Decoder) throws {
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            timeline = try? container?.decode(Timeline.self, forKey: .timeline)
            state = try? container?.decode(Events.self, forKey: .state)
        }

        enum CodingKeys: String, CodingKey { case timeline, state }
    }

    struct InvitedRoom: Decodable, Sendable {
        var inviteState: Events?

        init(from decoder: any Decoder) throws {
            inviteState = try? decoder.container(keyedBy: CodingKeys.self).decode(Events.self, forKey: .inviteState)
        }

        enum CodingKeys: String, CodingKey { case inviteState = "invite_state" }
    }

    struct LeftRoom: Decodable, Sendable {
        init(from decoder: any Decoder) throws {}
    }

    struct Timeline: Decodable, Sendable {
        var events: [MatrixRoomEvent]?
        /// More events happened than the answer holds: fetch the gap from `prev_batch`.
        var limited: Bool?
        var previousBatch: String?

        init(from decoder: any Decoder) throws {
            let container = try? decoder.container(keyedBy: CodingKeys.self)
            events = try? container?.decode([MatrixRoomEvent].self, forKey: .events)
            limited = try? container?.decode(Bool.self, forKey: .limited)
            previousBatch = try? container?.decode(String.self, forKey: .previousBatch)
        }

        enum CodingKeys: String, CodingKey {
            case events, limited
            case previousBatch = "prev_batch"
        }
    }

    struct Events: Decodable, Sendable {
        var events: [MatrixRoomEvent]?

        init(from decoder: any Decoder) throws {
            events = try? decoder.container(keyedBy: CodingKeys.self).decode([MatrixRoomEvent].self, forKey: .events)
        }

        enum CodingKeys: String, CodingKey { case events }
    }

    var nextBatch: String
    var rooms: Rooms?

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        nextBatch = try container.decode(String.self, forKey: .nextBatch)
        rooms = try? container.decode(Rooms.self, forKey: .rooms)
    }

    enum CodingKeys: String, CodingKey {
        case nextBatch = "next_batch"
        case rooms
    }
}

/// A room event, read leniently: a field of an unexpected type is left out rather than
/// failing the whole sync (rooms hold whatever other clients sent).
struct MatrixRoomEvent: Decodable, Sendable, Equatable {
    var type: String
    var eventID: String?
    var sender: String?
    var originServerTimestamp: Int64?
    var stateKey: String?
    var msgtype: String?
    var body: String?
    var membership: String?
    /// The membership a member event replaced (`unsigned.prev_content`, which the homeserver
    /// adds): "join" again for a change of display name or avatar, not a join.
    var previousMembership: String?
    /// `m.relates_to.rel_type`: `m.replace` marks an edit, `m.thread` a message in a thread.
    var relation: String?
    /// The thread's root (`m.relates_to.event_id` of an `m.thread` relation).
    var threadRoot: String?

    enum CodingKeys: String, CodingKey {
        case type, sender, content, unsigned
        case eventID = "event_id"
        case originServerTimestamp = "origin_server_ts"
        case stateKey = "state_key"
        case previousContent = "prev_content"
    }

    private enum ContentKeys: String, CodingKey {
        case msgtype, body, membership
        case relatesTo = "m.relates_to"
    }

    private enum UnsignedKeys: String, CodingKey {
        case previousContent = "prev_content"
    }

    private enum RelationKeys: String, CodingKey {
        case relType = "rel_type"
        case eventID = "event_id"
    }

    init(
        type: String, eventID: String? = nil, sender: String? = nil, originServerTimestamp: Int64? = nil, stateKey: String? = nil,
        msgtype: String? = nil, body: String? = nil, membership: String? = nil, previousMembership: String? = nil, relation: String? = nil,
        threadRoot: String? = nil
    ) {
        self.type = type
        self.eventID = eventID
        self.sender = sender
        self.originServerTimestamp = originServerTimestamp
        self.stateKey = stateKey
        self.msgtype = msgtype
        self.body = body
        self.membership = membership
        self.previousMembership = previousMembership
        self.relation = relation
        self.threadRoot = threadRoot
    }

    init(from decoder: any Decoder) throws {
        // Not an object at all: an event of no type, which nothing reads.
        let container = try? decoder.container(keyedBy: CodingKeys.self)
        type = (try? container?.decode(String.self, forKey: .type)) ?? ""
        eventID = try? container?.decode(String.self, forKey: .eventID)
        sender = try? container?.decode(String.self, forKey: .sender)
        originServerTimestamp = try? container?.decode(Int64.self, forKey: .originServerTimestamp)
        stateKey = try? container?.decode(String.self, forKey: .stateKey)
        let content = try? container?.nestedContainer(keyedBy: ContentKeys.self, forKey: .content)
        msgtype = try? content?.decode(String.self, forKey: .msgtype)
        body = try? content?.decode(String.self, forKey: .body)
        membership = try? content?.decode(String.self, forKey: .membership)
        // Servers before spec v1.0 put `prev_content` at the top of the event.
        let unsigned = try? container?.nestedContainer(keyedBy: UnsignedKeys.self, forKey: .unsigned)
        let previousContent =
            (try? unsigned?.nestedContainer(keyedBy: ContentKeys.self, forKey: .previousContent))
            ?? (try? container?.nestedContainer(keyedBy: ContentKeys.self, forKey: .previousContent))
        previousMembership = try? previousContent?.decode(String.self, forKey: .membership)
        let relatesTo = try? content?.nestedContainer(keyedBy: RelationKeys.self, forKey: .relatesTo)
        relation = try? relatesTo?.decode(String.self, forKey: .relType)
        threadRoot = relation == "m.thread" ? try? relatesTo?.decode(String.self, forKey: .eventID) : nil
    }
}

/// The content of an `m.room.message` Baton sends: text or notice, optionally a reply,
/// optionally in a thread.
struct MatrixMessageContent: Encodable, Equatable {
    struct Relation: Encodable, Equatable {
        struct InReplyTo: Encodable, Equatable {
            var eventID: String
            enum CodingKeys: String, CodingKey { case eventID = "event_id" }
        }

        /// `m.thread` for an event in a thread.
        var relType: String?
        /// The thread's root.
        var eventID: String?
        /// Whether ``inReplyTo`` is only there for clients that do not show threads.
        var isFallingBack: Bool?
        var inReplyTo: InReplyTo?

        enum CodingKeys: String, CodingKey {
            case relType = "rel_type"
            case eventID = "event_id"
            case isFallingBack = "is_falling_back"
            case inReplyTo = "m.in_reply_to"
        }
    }

    var msgtype: String
    var body: String
    var relatesTo: Relation?

    enum CodingKeys: String, CodingKey {
        case msgtype, body
        case relatesTo = "m.relates_to"
    }

    /// A message replying to `eventID` (or to nothing); in the thread of `threadRoot`, when
    /// given, where a part that is not the reply itself still names `eventID` for clients
    /// that do not show threads.
    init(msgtype: String, body: String, inReplyTo eventID: String?, threadRoot: String? = nil, isReply: Bool = true) {
        self.msgtype = msgtype
        self.body = body
        if let threadRoot {
            relatesTo = Relation(
                relType: "m.thread", eventID: threadRoot, isFallingBack: !isReply || eventID == nil,
                inReplyTo: .init(eventID: eventID ?? threadRoot))
        } else if isReply, let eventID {
            relatesTo = Relation(inReplyTo: .init(eventID: eventID))
        }
    }
}
