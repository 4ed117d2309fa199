import BatonCore

/// Commits that went unanswered (a timeout, a dropped connection): each may or may not
/// have landed. A group sent again is matched to the ones that held it, so that
/// `baton_commit` stores it at most once.
struct UnansweredCommits: Sendable {
    /// A group of an earlier commit: the commit's key and the group's index in it.
    struct Ref: Sendable, Equatable {
        var key: String
        var group: Int
    }

    private struct Commit {
        var key: String
        var groups: [[StoreWrite]]
    }

    private var commits: [Commit] = []
    /// More are not kept. In a long outage every attempt goes unanswered; the first ones
    /// (the commit that timed out as the trouble began) and the latest (that may still be
    /// under way) are the ones that can have landed, so one from the middle goes.
    static let limit = 64

    mutating func add(key: String, groups: [[StoreWrite]]) {
        commits.append(Commit(key: key, groups: groups))
        if commits.count > Self.limit { commits.remove(at: Self.limit / 2) }
    }

    /// Every commit is answered: none of the earlier ones is waited on any more.
    mutating func removeAll() {
        commits.removeAll()
    }

    /// For each of `groups`, the earlier unanswered commits that held an equal group,
    /// oldest first; each earlier group is matched once.
    func retries(of groups: [[StoreWrite]]) -> [[Ref]] {
        guard !commits.isEmpty else { return [] }
        var used = Set<String>()
        return groups.map { writes in
            var refs: [Ref] = []
            for commit in commits {
                for (index, earlier) in commit.groups.enumerated() where earlier == writes && !used.contains("\(commit.key) \(index)") {
                    used.insert("\(commit.key) \(index)")
                    refs.append(Ref(key: commit.key, group: index))
                    break
                }
            }
            return refs
        }
    }
}
