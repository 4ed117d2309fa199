import BatonCore
import BatonHTTP
import CoreMetrics
import Logging

extension ConnectionRegistry {
    /// The chat API's connection registry for `configuration`.
    ///
    /// Raises the soft descriptor limit to the hard one first, then takes
    /// `limits.max_connections`, or derives it from that limit when it is 0.
    static func make(configuration: Configuration, logger: Logger, metricsFactory: any MetricsFactory) -> ConnectionRegistry {
        let limits = configuration.limits
        let (before, descriptors) = DescriptorLimit.raiseSoftLimit()
        let turns = configuration.agent.maxConcurrentTurns
        let maxConnections = limits.maxConnections > 0 ? limits.maxConnections : descriptors.derivedMaxConnections(maxConcurrentTurns: turns)
        logger.info(
            "Descriptor limit \(descriptors.soft)\(before.soft == descriptors.soft ? "" : " (raised from \(before.soft))"); at most \(maxConnections) connections",
            metadata: [
                "baton.nofile": "\(descriptors.soft)", "baton.nofile_hard": "\(descriptors.hard)",
                "baton.max_connections": "\(maxConnections)",
            ])
        let room = descriptors.connectionRoom(maxConcurrentTurns: turns)
        if limits.maxConnections > room {
            logger.warning(
                "limits.max_connections is more than the descriptor limit leaves room for; accepts may fail before it is reached",
                metadata: ["baton.max_connections": "\(limits.maxConnections)", "baton.connection_room": "\(room)"])
        }
        return ConnectionRegistry(
            limits: Limits(maxConnections: maxConnections, requestTimeout: limits.requestTimeout, idleTimeout: limits.idleTimeout),
            logger: logger, metricsFactory: metricsFactory)
    }
}
