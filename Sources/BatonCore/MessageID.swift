import Foundation

/// Ids for messages that came without one: UUID version 7 (RFC 9562), lowercase.
///
/// The first 48 bits are the Unix time in milliseconds, so ids made later sort later and
/// a store's index on the id grows at its end: one page written per commit, not a random
/// page per message (a version 4 UUID touched a page of its own for every message). The
/// other 74 bits come from the system's random source (``RandomWordPool``), which `UUID()`
/// here reached by opening `/dev/urandom` for every id.
enum MessageID {
    static func make(at date: Date = Date()) -> String {
        let random = RandomWordPool.shared
        let milliseconds = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        let high = milliseconds << 16 | 0x7000 | random.next() & 0x0FFF  // version 7
        let low = 0x8000_0000_0000_0000 | random.next() & 0x3FFF_FFFF_FFFF_FFFF  // RFC 9562 variant
        return hyphenatedHex(high, low)
    }

    /// `high` and `low` as a lowercase UUID string (8-4-4-4-12 hex digits), written
    /// straight into the string's storage.
    private static func hyphenatedHex(_ high: UInt64, _ low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            let digits: StaticString = "0123456789abcdef"
            var index = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                let word = nibble < 16 ? high : low
                buffer[index] = digits.utf8Start[Int(truncatingIfNeeded: word >> UInt64(60 - 4 * (nibble % 16)) & 0xF)]
                index += 1
            }
            return index
        }
    }
}
