import BatonApp
import BatonCore
import BatonTestSupport
import Foundation
import Testing

/// `GET /metrics`: what an operator greps for, counted at the moment it happens.
@Suite struct MetricsTests {
    /// Every metric the README lists, with its Prometheus type.
    static let documented: [(name: String, type: String)] = [
        ("baton_messages_accepted_total", "counter"),
        ("baton_messages_queued_total", "counter"),
        ("baton_messages_rejected_total", "counter"),
        ("baton_turns_started_total", "counter"),
        ("baton_turns_finished_total", "counter"),
        ("baton_turns_failed_total", "counter"),
        ("baton_turns_interrupted_total", "counter"),
        ("baton_turns_in_flight", "gauge"),
        ("baton_queue_depth", "gauge"),
        ("baton_drains_total", "counter"),
        ("baton_drain_duration_seconds", "histogram"),
        ("baton_agent_health", "gauge"),
        ("baton_recovered_turns_total", "counter"),
        ("baton_recovered_messages_total", "counter"),
        ("baton_connections_open", "gauge"),
        ("baton_connections_max", "gauge"),
        ("baton_connections_accepted_total", "counter"),
        ("baton_connections_closed_total", "counter"),
    ]

    @Test func everyMetricIsThereFromTheStartAndHealthFollowsTheAgent() async throws {
        try await InProcessBaton().run(agent: GatedAgent()) { app, client in
            let response = try await client.request("GET", "/metrics")
            #expect(response.status == 200)
            #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(response.instance == app.gateway.instance)
            let metrics = PrometheusText(response.text)
            for (name, type) in Self.documented {
                #expect(metrics.types[name] == type, "\(name) is a \(type)")
            }
            for reason in ["busy", "draining", "queue_full", "invalid", "too_large"] {
                #expect(metrics[#"baton_messages_rejected_total{reason="\#(reason)"}"#] == 0)
            }
            #expect(metrics["baton_messages_accepted_total"] == 0)
            #expect(metrics[#"baton_drains_total{reason="stop"}"#] == 0)
            #expect(metrics[#"baton_drain_duration_seconds_count{reason="restart"}"#] == 0)
            #expect(metrics["baton_turns_in_flight"] == 0 && metrics["baton_queue_depth"] == 0)
            #expect(metrics[#"baton_agent_health{health="ready"}"#] == 1)
            #expect(metrics[#"baton_agent_health{health="starting"}"#] == 0)
            for reason in ["idle", "slow", "evicted", "refused"] {
                #expect(metrics[#"baton_connections_closed_total{reason="\#(reason)"}"#] == 0)
            }
            // This request's connection.
            #expect(metrics["baton_connections_open"] == 1 && metrics["baton_connections_accepted_total"] == 1)

            await app.gateway.recordAgentProbe(succeeded: false, startedAt: .now)
            let degraded = try await client.metrics()
            #expect(degraded[#"baton_agent_health{health="degraded"}"#] == 1)
            #expect(degraded[#"baton_agent_health{health="ready"}"#] == 0)
        }
    }

    @Test func messagesTurnsRejectionsAndADrainAreCounted() async throws {
        let baton = InProcessBaton { $0.busyInput = .reject }
        let agent = GatedAgent()
        let finished = ObservedState<BatonApplication?>(nil)
        let exit = try await baton.run(agent: agent) { app, client in
            finished.update { $0 = app }
            _ = try await client.send(session: "s1", text: "first")
            await agent.waitUntilStarted("first")
            #expect(try await client.post(session: "s1", text: "second").status == 503)
            agent.release("other")
            _ = try await client.send(session: "s2", text: "other")
            try await waitForStatus(of: app, "the turn of s2 to end") { $0.inFlight == 1 }
            #expect(try await client.request("POST", "/v1/messages", body: Array("{".utf8)).status == 400)
            let tooLarge = Array(repeating: UInt8(ascii: "x"), count: baton.configuration.limits.maxMessageBytes + 1)
            #expect(try await client.request("POST", "/v1/messages", body: tooLarge).status == 413)

            let serving = try await client.metrics()
            #expect(serving["baton_messages_accepted_total"] == 2)
            #expect(serving["baton_messages_queued_total"] == 0)
            #expect(serving[#"baton_messages_rejected_total{reason="busy"}"#] == 1)
            #expect(serving[#"baton_messages_rejected_total{reason="invalid"}"#] == 1)
            #expect(serving[#"baton_messages_rejected_total{reason="too_large"}"#] == 1)
            #expect(serving[#"baton_messages_rejected_total{reason="draining"}"#] == 0)
            #expect(serving["baton_turns_started_total"] == 2)
            #expect(serving["baton_turns_finished_total"] == 1)
            #expect(serving["baton_turns_in_flight"] == 1)
            #expect(serving["baton_queue_depth"] == 0)
            #expect(serving[#"baton_drains_total{reason="restart"}"#] == 0)

            #expect(try await client.post(session: "ops", user: "alice", text: "/restart").status == 202)
            #expect(try await client.post(session: "s3", text: "during the drain").status == 503)
            let draining = try await client.metrics()
            #expect(draining[#"baton_drains_total{reason="restart"}"#] == 1)
            #expect(draining[#"baton_messages_rejected_total{reason="draining"}"#] == 1)
            #expect(draining[#"baton_drain_duration_seconds_count{reason="restart"}"#] == 0, "the drain is still running")
            agent.release("first")
        }
        #expect(exit == .restart)

        // The drain's duration is recorded when it ends, just before the process exits.
        let metrics = try PrometheusText(#require(finished.value).metrics.emitToString())
        #expect(metrics[#"baton_drain_duration_seconds_count{reason="restart"}"#] == 1)
        #expect(metrics[#"baton_drain_duration_seconds_bucket{reason="restart",le="+Inf"}"#] == 1)
        #expect(metrics[#"baton_drains_total{reason="restart"}"#] == 1)
        #expect(metrics["baton_turns_finished_total"] == 2)
        #expect(metrics["baton_turns_in_flight"] == 0)
    }

    @Test func interruptedTurnsAndQueuedMessagesAreCountedAsRecoveredByTheNextProcess() async throws {
        let baton = InProcessBaton()
        let agent = GatedAgent()
        let first = ObservedState<BatonApplication?>(nil)
        try await baton.run(agent: agent) { app, client in
            first.update { $0 = app }
            _ = try await client.send(session: "s", text: "long")
            await agent.waitUntilStarted("long")
            #expect(try await client.send(session: "s", text: "later").acknowledgement.status == "queued")
            let queued = try await client.metrics()
            #expect(queued["baton_queue_depth"] == 1 && queued["baton_turns_in_flight"] == 1)
            #expect(try await client.post(session: "ops", user: "alice", text: "/restart now").status == 202)
        }
        let before = try PrometheusText(#require(first.value).metrics.emitToString())
        #expect(before["baton_messages_accepted_total"] == 1 && before["baton_messages_queued_total"] == 1)
        #expect(before[#"baton_turns_interrupted_total{cause="drain"}"#] == 1)
        #expect(before["baton_turns_finished_total"] == 0)

        let next = GatedAgent()
        next.releaseAll()
        try await baton.run(agent: next) { app, client in
            _ = try await client.events(session: "s") { events in events.filter(\.isReply).count == 2 }
            try await waitForStatus(of: app, "both turns to end") { $0.inFlight == 0 && $0.queued == 0 }
            let metrics = try await client.metrics()
            #expect(metrics["baton_recovered_turns_total"] == 1)
            #expect(metrics["baton_recovered_messages_total"] == 2)
            #expect(metrics["baton_turns_started_total"] == 2 && metrics["baton_turns_finished_total"] == 2)
            #expect(metrics["baton_messages_accepted_total"] == 0, "recovered messages are not accepted twice")
        }
    }
}

/// Waits for a status snapshot that satisfies `condition`; the feed sends one on every change.
private func waitForStatus(
    of app: BatonApplication, _ what: String, _ condition: @escaping @Sendable (GatewayStatus) -> Bool
) async throws {
    try await withTimeout(.seconds(30), waitingFor: what) {
        for await status in await app.gateway.statusUpdates() where condition(status) { return }
        throw TimeoutError("the status feed ended before \(what)")
    }
}
