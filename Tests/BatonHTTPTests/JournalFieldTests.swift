@testable import BatonSystemd
import Testing

@Suite struct JournalFieldTests {
    @Test(arguments: [
        ("baton.session", "BATON_SESSION"),
        ("baton.instance", "BATON_INSTANCE"),
        ("baton.message", "BATON_MESSAGE"),
        ("sl-service", "SL_SERVICE"),
        ("_private", "PRIVATE"),
    ])
    func metadataKeysBecomeJournalFieldNames(key: String, field: String) {
        #expect(JournalLogHandler.fieldName(key) == field)
    }

    @Test func onlyWhenSystemdConnectsStandardErrorToTheJournal() {
        #expect(JournalLogHandler.isJournalAvailable(environment: ["JOURNAL_STREAM": "8:12345"]))
        #expect(!JournalLogHandler.isJournalAvailable(environment: [:]))
    }
}
