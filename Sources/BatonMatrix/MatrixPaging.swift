/// How many events Baton asks the homeserver for at a time.
public struct MatrixPaging: Sendable {
    /// Events a `/sync` answer holds per room before it is cut short (`limited`).
    public var timelineLimit: Int
    /// Events per page of `/messages` when reading what a cut-short answer left out.
    public var historyPage: Int

    public init(timelineLimit: Int = 100, historyPage: Int = 100) {
        self.timelineLimit = timelineLimit
        self.historyPage = historyPage
    }

    public static let standard = MatrixPaging()
}
