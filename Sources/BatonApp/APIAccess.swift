import BatonCore
import BatonHTTP
import Logging

/// Decides, once the chat API's socket is known, whether it may be served, and says in
/// the log who may use it.
enum APIAccess {
    /// Throws the configuration error `baton serve` exits 78 with when the API would be
    /// open to other machines without tokens; otherwise logs the tokens (by name, never
    /// the secret) or the lack of them.
    ///
    /// The socket's own address is judged, not `listen`: a socket from systemd
    /// (`baton.socket`, or the previous process's) can be bound anywhere.
    static func check(_ configuration: Configuration, socket: ListeningSocket, logger: Logger) throws(ConfigurationError) {
        let address = socket.localAddress ?? configuration.listen
        let origin = socket.origin == .inherited ? "socket from systemd on" : "listen"
        if let problem = configuration.exposureProblem(listeningOn: address, origin: origin) {
            throw problem
        }
        let tokens = configuration.apiTokens
        if !tokens.isEmpty {
            logger.info("API tokens", metadata: ["baton.tokens": "\(tokens.summary)"])
        } else if address.isLoopback {
            logger.info(
                "The API has no api_tokens: it serves this machine only, and nothing proves who a message is from",
                metadata: ["baton.listen": "\(address)"])
        } else {
            logger.warning(
                "The API serves other machines without tokens (allow_unauthenticated): anyone reaching it may post as any user; admin commands are taken from this machine only",
                metadata: ["baton.listen": "\(address)"])
        }
    }
}
