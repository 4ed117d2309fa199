import BatonCore
import BatonPostgres

/// What `baton serve` refuses a configuration for beyond the loader's own checks, before
/// it opens anything: an exec agent's program that is not there, an agent URL that is
/// not one, a PostgreSQL URL it cannot read, an API open to other machines without
/// tokens.
///
/// `baton check-config` runs it, so that a configuration it passes starts; and a running
/// process runs it on its configuration read again before a restart drain, so that a
/// restart into a configuration that would exit 78 is refused and the process keeps
/// serving.
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

    /// Why the next process, reading its configuration with `load`, would not start with
    /// the API's socket at `address`; nil when it would.
    static func nextStartProblem(
        load: @escaping @Sendable () throws(ConfigurationError) -> Configuration, address: ListenAddress, origin: String
    ) -> @Sendable () -> String? {
        { () -> String? in
            do throws(ConfigurationError) {
                try check(try load(), listeningOn: address, origin: origin)
                return nil
            } catch {
                return error.description
            }
        }
    }
}
