import BatonCore
import Foundation
import Synchronization

/// Keeps two Batons with stores of their own from answering one Matrix account: each would
/// read every message and answer it, so every person would get two replies.
///
/// The store that answers the account says so in the account's data on the homeserver
/// (`org.baton.claim`: a random id kept in the store, the host, the process, when it last
/// renewed it), renewed about every ``renewal`` while it syncs (checked before a batch is
/// handled) and released when the process stops for good; a restart keeps it, for the
/// next process on the same store. A process whose store holds another id stands by while
/// that claim is fresher than ``lifetime`` and takes the account over once it is released
/// or runs out.
///
/// A Baton that takes the account over from another store reads on from where that one
/// stopped (its release names its sync position), or from now when it died: never from a
/// position of its own store's, which the other has read past and answered since. That
/// position is stored before the claim is written, so a takeover cut short anywhere never
/// leaves the store's old position behind a claim of its own.
final class MatrixAccountClaim: Sendable {
    /// The account data event type the claim is kept under.
    static let eventType = "org.baton.claim"
    /// How long a claim stands without being renewed (the holder died or was cut off).
    static let lifetime = Duration.seconds(120)
    /// How often the holder renews it.
    static let renewal = Duration.seconds(30)
    /// How long a process that takes the account waits before reading the claim back, so
    /// that of two taking it at once, one sees the other's and stands by.
    static let settle = Duration.seconds(1)
    /// The stored key of this store's claim id, beside the network's cursor.
    static let storedIDKey = "\(MatrixNetwork.name).claim"

    /// The claim as kept in the account's data.
    struct Record: Codable, Equatable {
        var id: String
        var host: String
        var pid: Int32
        /// Milliseconds since 1970; 0 once released.
        var renewedAt: Int64
        /// The holder's sync position, given at its release: where the next holder reads on.
        var cursor: String?

        enum CodingKeys: String, CodingKey {
            case id, host, pid, cursor
            case renewedAt = "renewed_at"
        }

        func isStanding(at now: Date) -> Bool {
            renewedAt > 0 && now.timeIntervalSince1970 * 1000 - Double(renewedAt) < MatrixAccountClaim.lifetime.seconds * 1000
        }

        /// Whether this very process wrote it.
        var isThisProcess: Bool { host == MatrixAccountClaim.host && pid == getpid() }
    }

    /// Account data of the claim's type that may not be a claim at all (cleared to `{}`,
    /// written by hand): read as no claim rather than failing every sync.
    private struct Stored: Decodable {
        var record: Record?
        init(from decoder: any Decoder) throws { record = try? Record(from: decoder) }
    }

    /// Another store's Baton answers the account.
    struct HeldElsewhere: Error, CustomStringConvertible {
        var holder: Record

        var description: String {
            "another Baton (host \(holder.host), pid \(holder.pid)) answers this Matrix account from a store of its own; "
                + "this one stands by and takes over once that one stops (or \(Int(MatrixAccountClaim.lifetime.seconds)) s after it is last heard from)"
        }
    }

    private let client: MatrixClient
    private let store: any Store
    private let writer: StoreWriter
    /// When this process last wrote its claim; nil while it holds none.
    private let renewed = Mutex<ContinuousClock.Instant?>(nil)

    init(client: MatrixClient, store: any Store, writer: StoreWriter) {
        self.client = client
        self.store = store
        self.writer = writer
    }

    /// Claims the account for this store, or throws ``HeldElsewhere``.
    ///
    /// Taking it over from another store's Baton, `readOnFrom` stores the position to read
    /// on from first: the one the other's release names, or nil after a death (from now).
    func claim(readOnFrom: (_ position: String?, _ holder: Record) async throws -> Void) async throws {
        renewed.withLock { $0 = nil }
        let id = try await storedID()
        let found = try await current()
        if let found, found.id != id, found.isStanding(at: Date()) { throw HeldElsewhere(holder: found) }
        if let found, found.id == id, found.isStanding(at: Date()) {
            // This store's own claim (a restart, a peer on the same PostgreSQL): no one
            // else can have taken it meanwhile.
            try await write(id: id)
            return
        }
        if let found, found.id != id {
            try await readOnFrom(found.renewedAt == 0 ? found.cursor : nil, found)
        }
        try await write(id: id)
        // Taken from no one, or from a claim that ran out or was released: another process
        // may be taking it this very moment. The homeserver keeps the last write; both
        // read it back, and one stands by.
        try await Task.sleep(for: Self.settle)
        if let now = try await current(), now.id != id {
            renewed.withLock { $0 = nil }
            throw HeldElsewhere(holder: now)
        }
    }

    /// Renews the claim when ``renewal`` has passed; throws ``HeldElsewhere`` when another
    /// store's Baton has taken the account meanwhile (this one was cut off past ``lifetime``).
    /// Called before each sync answer is handled, so a holder cut off that long answers
    /// nothing the other has answered.
    func renewIfDue() async throws {
        guard let last = renewed.withLock({ $0 }), ContinuousClock.now - last >= Self.renewal else { return }
        let id = try await storedID()
        // (This process's own claim under an id its store has replaced since, which
        // processes sharing a store that made ids at once do, is renewed under the new.)
        if let found = try await current(), found.id != id, found.isStanding(at: Date()), !found.isThisProcess {
            renewed.withLock { $0 = nil }
            throw HeldElsewhere(holder: found)
        }
        try await write(id: id)
    }

    /// Lets the account go when the process stops for good, so that a standby takes it at
    /// once, reading on from this store's position. Only a claim this process wrote last is
    /// released: not one a peer on the same store renewed since, nor one another Baton took.
    func release() async {
        guard renewed.withLock({ $0 }) != nil, let id = try? await storedID() else { return }
        guard let found = try? await current(), found.id == id, found.isThisProcess else { return }
        let cursor = try? await store.cursor(network: MatrixNetwork.name)
        try? await client.setAccountData(
            Record(id: id, host: Self.host, pid: getpid(), renewedAt: 0, cursor: cursor ?? nil), type: Self.eventType, timeout: .seconds(2))
        renewed.withLock { $0 = nil }
    }

    private func current() async throws -> Record? {
        try await client.accountData(Stored.self, type: Self.eventType)?.record
    }

    private func write(id: String) async throws {
        let record = Record(id: id, host: Self.host, pid: getpid(), renewedAt: Int64(Date().timeIntervalSince1970 * 1000))
        try await client.setAccountData(record, type: Self.eventType)
        renewed.withLock { $0 = .now }
    }

    /// This store's claim id, made on first use. Read back after writing, so that
    /// processes sharing a store that make one at once end up with the same.
    private func storedID() async throws -> String {
        if let id = try await store.cursor(network: Self.storedIDKey) { return id }
        try await writer.write([.saveCursor(network: Self.storedIDKey, cursor: UUID().uuidString.lowercased())])
        guard let id = try await store.cursor(network: Self.storedIDKey) else {
            throw MatrixError(.malformed, message: "the store did not keep the Matrix claim id")
        }
        return id
    }

    fileprivate static let host = ProcessInfo.processInfo.hostName
}
