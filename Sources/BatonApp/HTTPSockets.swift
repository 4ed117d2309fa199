import BatonCore
import BatonHTTP
import BatonSystemd
import Logging

/// The chat API's listening sockets: every one systemd handed over under the name `http`
/// (a socket unit may listen on IPv4 and IPv6, or on several ports), or else the one
/// `listen` names, bound here.
struct HTTPSockets {
    /// In the order systemd passed them; never empty.
    let sockets: [ListeningSocket]

    /// The socket `/v1/status`, the cluster and the tests name: the first.
    var primary: ListeningSocket { sockets[0] }

    /// The socket whose exposure decides what the configuration must hold (tokens): the
    /// first reachable from other machines, else the first.
    var mostExposed: ListeningSocket {
        sockets.first { $0.localAddress.map { !$0.isLoopback } ?? false } ?? primary
    }

    /// Where the exposure check says the socket came from.
    var origin: String { primary.origin == .inherited ? "socket from systemd on" : "listen" }

    /// Takes the sockets passed by systemd, or binds `listen`.
    static func open(passed: ListenDescriptors, configuration: Configuration, logger: Logger) throws -> HTTPSockets {
        let inherited = passed.takeListeners(named: "http").map(ListeningSocket.inherited)
        guard !inherited.isEmpty else {
            if let problem = configuration.listen.unresolvedProblem { throw problem }
            return HTTPSockets(sockets: [try .tcp(host: configuration.listen.host, port: configuration.listen.port)])
        }
        let addresses = inherited.compactMap(\.localAddress)
        let differences = addresses.compactMap { ListenAddress.mismatch(configured: configuration.listen, bound: $0) }
        if !addresses.isEmpty, differences.count == addresses.count {
            // Kept, so that a restart refuses no connection; a new address needs a stop
            // and a start, which hand over no socket.
            logger.warning(
                "The socket systemd handed over is not the one listen names; it is kept. Stop and start the unit to listen on the new address",
                metadata: [
                    "baton.listen": "\(configuration.listen)", "baton.socket": "\(addresses.map(\.description).joined(separator: ", "))",
                    "baton.difference": "\(differences.joined(separator: "; "))",
                ])
        }
        if inherited.count > 1 {
            logger.info("Serving every socket systemd handed over", metadata: ["baton.sockets": "\(addresses.map(\.description).joined(separator: ", "))"])
        }
        return HTTPSockets(sockets: inherited)
    }
}
