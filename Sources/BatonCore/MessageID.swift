import Foundation

/// Ids for messages that came without one: UUID version 7 (RFC 9562), lowercase.
///
/// The first 48 bits are the Unix time in milliseconds, so ids made later sort later and
/// a store's index on the id grows at its end: one page written per commit, not a random
/// page per message (a version 4 UUID touched a page of its own for every message).
enum MessageID {
    static func make(at date: Date = Date()) -> String {
        var bytes = UUID().uuid
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        withUnsafeMutableBytes(of: &bytes) { raw in
            for index in 0..<6 {
                raw[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index)))
            }
            raw[6] = 0x70 | (raw[6] & 0x0F)  // version 7
            raw[8] = 0x80 | (raw[8] & 0x3F)  // RFC 9562 variant
        }
        return UUID(uuid: bytes).uuidString.lowercased()
    }
}
