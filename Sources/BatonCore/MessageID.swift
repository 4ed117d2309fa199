import Foundation

/// Ids for messages that came without one: UUID version 7 (RFC 9562), lowercase.
///
/// The first 48 bits are the Unix time in milliseconds, so ids made later sort later and
/// a store's index on the id grows at its end: one page written per commit, not a random
/// page per message (a version 4 UUID touched a page of its own for every message). The
/// other 74 bits come from the system's random source (`getrandom`), which `UUID()` here
/// reached by opening `/dev/urandom` for every id.
enum MessageID {
    static func make(at date: Date = Date()) -> String {
        var random = SystemRandomNumberGenerator()
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let high = milliseconds << 16 | 0x7000 | random.next() & 0x0FFF  // version 7
        let low = 0x8000_0000_0000_0000 | random.next() & 0x3FFF_FFFF_FFFF_FFFF  // RFC 9562 variant
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            raw.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        return UUID(uuid: bytes).uuidString.lowercased()
    }
}
