import BatonCore
import Foundation

/// One group-commit batch as the server-side function `baton_commit` takes it: every
/// write of every group in one JSON array, so a commit is one round trip however many
/// writes it holds.
///
/// The function runs each group in a subtransaction (a duplicate id fails its group
/// alone), assigns event ids from the session's counter row, and sends the cluster's
/// notifications (see ``ClusterNotification``) with the commit.
///
/// Each commit is stored under its `key` with its outcome, in the same transaction. A
/// group sent again after a commit that went unanswered names the commits it may have
/// landed in (``retries``): the first of them that did gives the group's outcome, and the
/// group is not written twice; the others are claimed, so that they can never land late.
struct PostgresBatch {
    let groups: [[StoreWrite]]
    /// This commit's key.
    let key: String
    /// Per group, the earlier unanswered commits (key, index of the group there) that
    /// held it, oldest first; empty for a group sent for the first time.
    var retries: [[UnansweredCommits.Ref]] = []

    /// The batch as the function's JSON argument.
    func json() throws -> String {
        let array = groups.enumerated().map { index, writes in
            let retried = index < retries.count ? retries[index] : []
            let prefix: [[String: Any]] = retried.isEmpty ? [] : [["op": "retry_of", "commits": retried.map { [$0.key, $0.group] }]]
            return prefix + writes.map(Self.object)
        }
        let data = try JSONSerialization.data(withJSONObject: array)
        return String(decoding: data, as: UTF8.self)
    }

    /// What the function returned, per group: the events it appended with their ids, or
    /// why the group failed.
    func results(from text: String) throws -> [Result<[SessionEvent], any Error>] {
        guard let outcomes = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], outcomes.count == groups.count
        else {
            throw PostgresStoreError(message: "PostgreSQL: baton_commit returned \(text.prefix(200))")
        }
        return zip(groups, outcomes).map { writes, outcome in
            if let code = outcome["code"] as? String {
                let message = outcome["error"] as? String ?? "failed"
                if code == Self.leaseLost, let session = Self.fencedSession(writes) {
                    return .failure(LeaseLostError(session: session))
                }
                return .failure(PostgresStoreError(message: "PostgreSQL: \(message) (SQLSTATE \(code))"))
            }
            let ids = outcome["events"] as? [Any] ?? []
            var events: [SessionEvent] = []
            for (event, id) in zip(writes.compactMap(\.event), ids) {
                // A reply whose ordinal was stored already was not stored again.
                guard let id = (id as? NSNumber)?.int64Value else { continue }
                var stored = event
                stored.id = id
                events.append(stored)
            }
            return .success(events)
        }
    }

    /// The SQLSTATE `baton_commit` raises when a group's fence finds the lease gone.
    static let leaseLost = "BT001"

    private static func fencedSession(_ writes: [StoreWrite]) -> String? {
        guard case .fence(let session, _) = writes.first else { return nil }
        return session
    }

    private static func object(_ write: StoreWrite) -> [String: Any] {
        switch write {
        case .insertMessage(let m):
            [
                "op": "insert", "id": m.id, "session": m.session, "user": m.user, "text": m.text, "state": m.state.rawValue,
                "ack_status": m.acknowledgement.status.rawValue, "ack_position": m.acknowledgement.position,
                "accepted_at": m.acceptedAt.timeIntervalSince1970,
            ]
        case .setState(let id, let state):
            ["op": "state", "id": id, "state": state.rawValue]
        case .appendEvent(let e):
            ["op": "event", "session": e.session, "kind": e.kind.rawValue, "data": e.data]
        case .appendReply(let e, let message, let ordinal):
            ["op": "reply", "session": e.session, "kind": e.kind.rawValue, "data": e.data, "message": message, "ordinal": ordinal]
        case .saveCursor(let network, let cursor):
            ["op": "cursor", "network": network, "cursor": cursor]
        case .markDelivered(let network, let session, let eventID):
            ["op": "delivered", "network": network, "session": session, "event_id": eventID]
        case .addMark(let network, let mark, let expires):
            expires
                ? ["op": "mark", "network": network, "mark": mark, "created_at": Date().timeIntervalSince1970]
                : ["op": "mark", "network": network, "mark": mark]
        case .fence(let session, let generation):
            generation.map { ["op": "fence", "session": session, "generation": $0] } ?? ["op": "fence", "session": session]
        }
    }

    /// The revision of ``function``'s body: one more with every change to it, so that an
    /// older build starting beside newer ones keeps the newer body
    /// (``PostgresSchema/refresh``).
    static let functionRevision = 3

    /// `baton_commit(groups jsonb, me text, commit_key text) RETURNS jsonb`, installed
    /// at every start (``PostgresSchema/refresh``).
    static let function = """
        CREATE OR REPLACE FUNCTION baton_commit(groups jsonb, me text, commit_key text) RETURNS jsonb LANGUAGE plpgsql AS $fn$
        DECLARE
            grp jsonb;
            w jsonb;
            outcomes jsonb := '[]'::jsonb;
            ids jsonb;
            new_id bigint;
            group_ranges jsonb;
            group_messages text[];
            ranges jsonb := '{}'::jsonb;
            message_sessions text[] := '{}';
            s text;
            c jsonb;
            earlier jsonb;
            now_epoch double precision := extract(epoch FROM clock_timestamp());
        BEGIN
            -- The session rows this batch writes, locked first and in one order: two
            -- processes' batches touching the same sessions then wait for each other
            -- instead of deadlocking. Missing rows are made after, in the same order.
            PERFORM 1 FROM sessions WHERE session IN (
                SELECT bw.value->>'session' FROM jsonb_array_elements(groups) AS bg, jsonb_array_elements(bg.value) AS bw
                WHERE bw.value->>'op' IN ('insert', 'event', 'reply'))
                ORDER BY session FOR UPDATE;
            INSERT INTO sessions (session)
                SELECT DISTINCT bw.value->>'session' FROM jsonb_array_elements(groups) AS bg, jsonb_array_elements(bg.value) AS bw
                WHERE bw.value->>'op' IN ('insert', 'event', 'reply') ORDER BY 1
                ON CONFLICT (session) DO NOTHING;
            -- The lease rows the groups' fences read, in the same order as a renewal locks
            -- them: a renewal and a commit wait for each other instead of deadlocking.
            PERFORM 1 FROM leases WHERE holder = me AND session IN (
                SELECT bw.value->>'session' FROM jsonb_array_elements(groups) AS bg, jsonb_array_elements(bg.value) AS bw
                WHERE bw.value->>'op' = 'fence')
                ORDER BY session FOR SHARE;
            FOR grp IN SELECT value FROM jsonb_array_elements(groups) LOOP
                ids := '[]'::jsonb;
                group_ranges := '{}'::jsonb;
                group_messages := '{}';
                earlier := NULL;
                -- Sent again after commits that went unanswered: the first of them that
                -- landed gives the outcome; the others are claimed (their own key row
                -- then fails them, should they come late), outside the group's
                -- subtransaction, so that the claims stay whatever the group does.
                IF grp->0->>'op' = 'retry_of' THEN
                    FOR c IN SELECT value FROM jsonb_array_elements(grp->0->'commits') LOOP
                        INSERT INTO baton_commits (key, created_at) VALUES (c->>0, now_epoch) ON CONFLICT DO NOTHING;
                        IF NOT FOUND THEN
                            SELECT outcome -> ((c->>1)::integer) INTO earlier FROM baton_commits WHERE key = c->>0;
                            EXIT WHEN earlier IS NOT NULL;
                        END IF;
                    END LOOP;
                    IF earlier IS NOT NULL THEN
                        outcomes := outcomes || earlier;
                        CONTINUE;
                    END IF;
                END IF;
                BEGIN
                    FOR w IN SELECT value FROM jsonb_array_elements(grp) LOOP
                        CASE w->>'op'
                        WHEN 'retry_of' THEN
                            NULL;
                        WHEN 'fence' THEN
                            PERFORM 1 FROM leases WHERE session = w->>'session' AND holder = me
                                AND (w->>'generation' IS NULL OR generation = (w->>'generation')::bigint) FOR SHARE;
                            IF NOT FOUND THEN
                                RAISE EXCEPTION 'the lease on session % is another process''s now', w->>'session' USING ERRCODE = 'BT001';
                            END IF;
                        WHEN 'insert' THEN
                            -- Locks the session's row until the commit: a session's messages
                            -- commit in the order of their sequence numbers.
                            INSERT INTO sessions (session) VALUES (w->>'session')
                                ON CONFLICT (session) DO UPDATE SET last_event = sessions.last_event;
                            INSERT INTO messages (id, session, "user", text, state, ack_status, ack_position, accepted_at)
                                VALUES (w->>'id', w->>'session', w->>'user', w->>'text', w->>'state', w->>'ack_status',
                                        (w->>'ack_position')::integer, (w->>'accepted_at')::double precision);
                            group_messages := group_messages || (w->>'session');
                        WHEN 'state' THEN
                            UPDATE messages SET state = w->>'state' WHERE messages.id = w->>'id';
                        WHEN 'event', 'reply' THEN
                            new_id := NULL;
                            IF w->>'op' = 'event' THEN
                                new_id := 0;
                            ELSE
                                -- A reply whose ordinal is stored already is not stored again.
                                UPDATE messages SET replies = (w->>'ordinal')::integer
                                    WHERE messages.id = w->>'message' AND replies < (w->>'ordinal')::integer;
                                IF FOUND THEN new_id := 0; END IF;
                            END IF;
                            IF new_id IS NOT NULL THEN
                                INSERT INTO sessions AS c (session, last_event) VALUES (w->>'session', 1)
                                    ON CONFLICT (session) DO UPDATE SET last_event = c.last_event + 1
                                    RETURNING last_event INTO new_id;
                                INSERT INTO events (session, id, kind, data, created_at)
                                    VALUES (w->>'session', new_id, w->>'kind', w->>'data', extract(epoch FROM clock_timestamp()));
                                group_ranges := jsonb_set(group_ranges, ARRAY[w->>'session'], jsonb_build_array(
                                    COALESCE(group_ranges #> ARRAY[w->>'session', '0'], to_jsonb(new_id)), to_jsonb(new_id)));
                            END IF;
                            ids := ids || COALESCE(to_jsonb(new_id), 'null'::jsonb);
                        WHEN 'cursor' THEN
                            INSERT INTO network_cursors (network, cursor) VALUES (w->>'network', w->>'cursor')
                                ON CONFLICT (network) DO UPDATE SET cursor = excluded.cursor;
                        WHEN 'delivered' THEN
                            INSERT INTO deliveries (network, session, event_id) VALUES (w->>'network', w->>'session', (w->>'event_id')::bigint)
                                ON CONFLICT (network, session) DO UPDATE SET event_id = GREATEST(deliveries.event_id, excluded.event_id);
                        WHEN 'mark' THEN
                            INSERT INTO network_marks (network, mark, created_at)
                            VALUES (w->>'network', w->>'mark', (w->>'created_at')::DOUBLE PRECISION) ON CONFLICT DO NOTHING;
                        ELSE
                            RAISE EXCEPTION 'unknown write %', w->>'op';
                        END CASE;
                    END LOOP;
                    outcomes := outcomes || jsonb_build_object('events', ids);
                    FOR s IN SELECT jsonb_object_keys(group_ranges) LOOP
                        ranges := jsonb_set(ranges, ARRAY[s], jsonb_build_array(
                            COALESCE(ranges #> ARRAY[s, '0'], group_ranges #> ARRAY[s, '0']), group_ranges #> ARRAY[s, '1']));
                    END LOOP;
                    message_sessions := message_sessions || group_messages;
                EXCEPTION WHEN unique_violation OR not_null_violation OR check_violation OR invalid_text_representation
                               OR string_data_right_truncation OR SQLSTATE 'BT001' THEN
                    outcomes := outcomes || jsonb_build_object('error', SQLERRM, 'code', SQLSTATE);
                END;
            END LOOP;
            -- Delivered at the commit, and only if it commits; events first: a process
            -- that hears of a message may read the session's events.
            FOR s IN SELECT k FROM jsonb_object_keys(ranges) AS k ORDER BY k LOOP
                PERFORM pg_notify('baton', format('e %s %s %s %s', me, ranges #>> ARRAY[s, '0'], ranges #>> ARRAY[s, '1'], s));
            END LOOP;
            FOR s IN SELECT DISTINCT m FROM unnest(message_sessions) AS m ORDER BY m LOOP
                PERFORM pg_notify('baton', format('m %s %s', me, s));
            END LOOP;
            -- Fails the whole commit if a retry claimed its key first.
            INSERT INTO baton_commits (key, outcome, created_at) VALUES (commit_key, outcomes, now_epoch);
            IF random() < 0.01 THEN
                DELETE FROM baton_commits WHERE key IN (
                    SELECT key FROM baton_commits WHERE created_at < now_epoch - 3600
                    ORDER BY created_at LIMIT 1000 FOR UPDATE SKIP LOCKED);
            END IF;
            RETURN outcomes;
        END
        $fn$
        """
}
