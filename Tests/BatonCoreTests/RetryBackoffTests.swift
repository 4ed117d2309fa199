import BatonCore
import Testing

@Suite("Retry backoff")
struct RetryBackoffTests {
    @Test("Waits double up to the maximum, within the upper half of each step")
    func doubling() {
        var backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(8))
        var generator = SystemRandomNumberGenerator()
        let ceilings: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8)]
        for ceiling in ceilings {
            let wait = backoff.failed(using: &generator)
            #expect(wait <= ceiling && wait >= ceiling / 2)
        }
        backoff.succeeded()
        #expect(backoff.failed(using: &generator) <= .seconds(1))
    }

    @Test("A server's retry-after hint wins when longer")
    func hint() {
        var backoff = RetryBackoff(initial: .seconds(1), maximum: .seconds(8))
        #expect(backoff.failed(hint: .seconds(30)) == .seconds(30))
    }

    @Test("Chat commands are recognised with surrounding space, nothing else is")
    func commands() {
        #expect(ChatCommand(text: " /restart\n") == .restart(now: false))
        #expect(ChatCommand(text: "/restart now") == .restart(now: true))
        #expect(ChatCommand(text: "/status") == .status)
        #expect(ChatCommand(text: "/restarts") == nil)
        #expect(ChatCommand(text: "please /restart") == nil)
    }
}
