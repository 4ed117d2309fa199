import BatonCore
import Prometheus

/// Who used the API and what was refused, by token name (never the secret).
///
/// Every series exists from the start at 0, one per configured token (or one for
/// `unauthenticated` when there are none), as the gateway's own metrics do.
final class AccessMetrics: Sendable {
    /// Why a request was refused before reaching its handler; the `reason` label of
    /// `baton_api_refused_total`.
    enum Refusal: String, CaseIterable {
        /// No bearer token on an API that needs one (401).
        case missingToken = "missing_token"
        /// A bearer token that is none of `api_tokens` (401).
        case invalidToken = "invalid_token"
        /// No tokens configured and the request came from another machine or through a
        /// proxy, without `allow_unauthenticated` (403).
        case notLocal = "not_local"
        /// No tokens configured and a browser sent the request for another site's page
        /// (``ForeignPageCheck``), without `allow_unauthenticated` (403).
        case foreignPage = "foreign_page"
    }

    private let requests: [String: Counter]
    private let impersonations: [String: Counter]
    private let refusals: [Refusal: Counter]

    /// Registers every series with `registry`, one per caller name.
    init(registry: PrometheusCollectorRegistry, callers: [String]) {
        func counters<Key: Hashable>(
            _ name: String, help: String, _ label: String, _ keys: [Key], _ value: (Key) -> String
        ) -> [Key: Counter] {
            let descriptor = MetricNameDescriptor(namespace: "baton", metricName: name, unitName: "total", helpText: help)
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, registry.makeCounter(descriptor: descriptor, labels: [(label, value($0))])) })
        }
        requests = counters("api_requests", help: "API requests let through, by token name", "token", callers) { $0 }
        impersonations = counters(
            "impersonations_rejected", help: "Messages refused because their token may not speak for their user", "token", callers) { $0 }
        refusals = counters("api_refused", help: "API requests refused before their handler", "reason", Refusal.allCases) { $0.rawValue }
    }

    /// Series for every token of `configuration`, or for `unauthenticated` without tokens.
    convenience init(registry: PrometheusCollectorRegistry, configuration: Configuration) {
        let tokens = configuration.apiTokens
        self.init(registry: registry, callers: tokens.isEmpty ? [Caller.unauthenticatedName] : tokens.names)
    }

    /// A request got past the token check as `caller`.
    func identified(_ caller: Caller) {
        requests[caller.name]?.increment()
    }

    /// A request was refused before its handler.
    func refused(_ reason: Refusal) {
        refusals[reason]?.increment()
    }

    /// `caller` posted a message as a user it may not speak for; nothing was stored.
    func impersonationRejected(_ caller: Caller) {
        impersonations[caller.name]?.increment()
    }
}
