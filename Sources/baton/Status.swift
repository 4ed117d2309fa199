import ArgumentParser
import BatonApp
import BatonCore
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show what the running gateway is doing.")

    @OptionGroup var control: ControlOptions

    @Flag(name: .long, help: "Print the /v1/status object as JSON.")
    var json = false

    func run() throws {
        let status: GatewayStatus
        do {
            status = try control.client().status()
        } catch let failure as ControlClient.Failure {
            printError(failure.description)
            throw ExitCode(failure.exitStatus.rawValue)
        }
        if json {
            print(String(decoding: try WireFormat.encoder.encode(status), as: UTF8.self))
        } else {
            print(StatusReport(status: status).text)
        }
    }
}

/// The human summary `baton status` prints.
struct StatusReport {
    let status: GatewayStatus

    var text: String {
        var lines = [
            "state:     \(status.state.rawValue)",
            "instance:  \(status.instance) (pid \(status.pid), version \(status.version))",
            "uptime:    \(Self.duration(Date().timeIntervalSince(status.startedAt)))",
            "sessions:  \(status.sessions)",
            "in flight: \(status.inFlight)",
            "queued:    \(status.queued)",
            "agent:     \(status.agent.kind), \(status.agent.health.rawValue)",
        ]
        if let drain = status.drain {
            lines.append("drain:     for \(drain.reason.rawValue), \(Int(drain.secondsLeft.rounded(.up))) s left (deadline \(drain.deadline.formatted(.iso8601)))")
        }
        for (name, network) in (status.networks ?? [:]).sorted(by: { $0.key < $1.key }) {
            let state = network.state.rawValue.replacingOccurrences(of: "_", with: " ") + (network.reason.map { " (\($0))" } ?? "")
            let padding = String(repeating: " ", count: max(1, 10 - name.count))
            lines.append("\(name):\(padding)\(state) as \(network.user), \(network.rooms.count) rooms, \(network.backlog) to deliver")
        }
        lines.append("supervisor: \(status.supervisor ?? "none")")
        if let reachable = status.storeReachable {
            lines.append("store:     PostgreSQL, \(reachable ? "reachable" : "unreachable")")
        }
        if let cluster = status.cluster {
            lines.append("cluster:   \(cluster.processes.count) processes alive, \(cluster.queued) messages waiting")
            for process in cluster.processes {
                lines.append("  \(process.instance) \(process.state) on \(process.host) (pid \(process.pid), \(process.listen)): \(process.sessions) sessions")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func duration(_ seconds: TimeInterval) -> String {
        let total = Int(seconds)
        if total < 60 { return "\(total) s" }
        if total < 3600 { return "\(total / 60) min \(total % 60) s" }
        return "\(total / 3600) h \(total % 3600 / 60) min"
    }
}
