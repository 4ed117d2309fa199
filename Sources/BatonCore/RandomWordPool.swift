import Foundation
import Synchronization

/// Random 64-bit words from the system's random source, drawn 4 KiB at a time: one
/// `getrandom` call for 256 message ids, where ``SystemRandomNumberGenerator`` makes one
/// for every word. Each word comes from the kernel's generator and is handed out once, so
/// what one id shows says nothing about the next.
final class RandomWordPool: Sendable {
    static let shared = RandomWordPool()

    private struct Words {
        var words = [UInt64](repeating: 0, count: RandomWordPool.refillCount)
        var next = RandomWordPool.refillCount
    }

    private static let refillCount = 512
    private let words = Mutex(Words())

    /// The next random word.
    func next() -> UInt64 {
        words.withLock { pool in
            if pool.next == pool.words.count {
                Self.fill(&pool.words)
                pool.next = 0
            }
            defer { pool.next += 1 }
            return pool.words[pool.next]
        }
    }

    /// glibc's `arc4random_buf`: one `getrandom` call for the whole buffer, retried
    /// until it is full.
    private static func fill(_ words: inout [UInt64]) {
        words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
    }
}
