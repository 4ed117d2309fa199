import BatonCore
import BatonPostgres

/// What `baton serve` refuses a configuration for beyond the loader's own checks, before
/// it opens anything: an exec agent's program that is not there, an agent URL that is
/// not one, a PostgreSQL URL it cannot read, an API open to other machines without
/// tokens.
///
/// `baton check-config` runs it, so that a configuration it passes starts; a running
/// process runs `check-config` before a restart drain (``NextStartCheck``).
public enum StartCheck {
    /// Throws what `baton serve` would exit 78 for, given the API's socket at `address`
    /// (`listen` when nil; `origin` says which in the message).
    public static func check(
        _ configuration: Configuration, listeningOn address: ListenAddress? = nil, origin: String = "listen"
    ) throws(ConfigurationError) {
        try AgentFactory.check(configuration)
        if configuration.store.isShared {
            do {
                _ = try PostgresURL(configuration.store.url)
            } catch {
                throw ConfigurationError(source: "configuration", key: "store.url", problem: error.description)
            }
        }
        if address == nil, let problem = configuration.listen.unresolvedProblem { throw problem }
        if let problem = configuration.exposureProblem(listeningOn: address ?? configuration.listen, origin: origin) {
            throw problem
        }
    }
}
