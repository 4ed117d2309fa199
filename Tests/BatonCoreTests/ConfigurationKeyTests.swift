import Testing

@testable import BatonCore

@Suite struct ConfigurationKeyTests {
    /// SPEC.md: every key can be set as `BATON_` and its path in upper case, dots as
    /// underscores.
    @Test func everyKeyHasTheEnvironmentNameTheSpecGives() {
        for key in ConfigurationKey.all {
            let expected = "BATON_" + key.path.uppercased().split(separator: ".").joined(separator: "_")
            #expect(key.environmentName == expected, "\(key.path)")
        }
        #expect(ConfigurationKey.named("agent.health_failure_threshold")?.environmentName == "BATON_AGENT_HEALTH_FAILURE_THRESHOLD")
        #expect(ConfigurationKey.named("store.url")?.environmentName == "BATON_STORE_URL")
    }
}
