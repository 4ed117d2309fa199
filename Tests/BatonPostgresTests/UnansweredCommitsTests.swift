import BatonCore
@testable import BatonPostgres
import Testing

/// Which earlier unanswered commits a group sent again is matched to.
@Suite("Groups sent again after unanswered commits")
struct UnansweredCommitsTests {
    private static func notice(_ text: String) -> [StoreWrite] {
        [.appendEvent(SessionEvent(session: "s", id: 0, kind: .notice, data: text))]
    }

    @Test("A group is matched to every unanswered commit that held it, oldest first; a new group to none")
    func matchedOldestFirst() {
        var commits = UnansweredCommits()
        commits.add(key: "k1", groups: [Self.notice("a"), Self.notice("b")])
        commits.add(key: "k2", groups: [Self.notice("b")])
        let refs = commits.retries(of: [Self.notice("b"), Self.notice("c")])
        #expect(refs == [[.init(key: "k1", group: 1), .init(key: "k2", group: 0)], []])
    }

    @Test("Two equal groups are matched to two earlier groups, not both to one")
    func equalGroupsMatchedOnce() {
        var commits = UnansweredCommits()
        commits.add(key: "k1", groups: [Self.notice("a"), Self.notice("a")])
        #expect(commits.retries(of: [Self.notice("a"), Self.notice("a"), Self.notice("a")]) == [
            [.init(key: "k1", group: 0)], [.init(key: "k1", group: 1)], [],
        ])
    }

    @Test("In a long outage the first and the latest commits are kept; an answered commit forgets them all")
    func firstAndLatestKept() {
        var commits = UnansweredCommits()
        for number in 1...100 { commits.add(key: "k\(number)", groups: [Self.notice("a")]) }
        // The group was in each of them: a candidate from every commit kept.
        let keys = commits.retries(of: [Self.notice("a")])[0].map(\.key)
        #expect(keys == (1...32).map { "k\($0)" } + (69...100).map { "k\($0)" })
        commits.removeAll()
        #expect(commits.retries(of: [Self.notice("a")]) == [])
    }
}
