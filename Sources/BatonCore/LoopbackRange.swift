import Foundation

/// The loopback ranges, checked on an address's bytes: `127.0.0.0/8`, `::1`, and a
/// `127.x` address mapped into IPv6 (`::ffff:127.0.0.1`). One check for a configured
/// address (after `inet_pton`) and for a connected peer (its socket address).
public enum LoopbackRange {
    /// Whether an IPv4 address (network byte order) is in `127.0.0.0/8`.
    public static func contains(_ address: in_addr) -> Bool {
        UInt32(bigEndian: address.s_addr) >> 24 == 127
    }

    /// Whether an IPv6 address is `::1` or an IPv4 loopback address mapped into IPv6.
    public static func contains(_ address: in6_addr) -> Bool {
        withUnsafeBytes(of: address) { bytes in
            let zeros = { (range: Range<Int>) in bytes[range].allSatisfy { $0 == 0 } }
            let isLoopback = zeros(0..<15) && bytes[15] == 1
            let isMappedLoopback = zeros(0..<10) && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
            return isLoopback || isMappedLoopback
        }
    }
}
