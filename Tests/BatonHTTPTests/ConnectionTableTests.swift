@testable import BatonApp
@testable import BatonHTTP
import Testing

@Suite struct ConnectionTableTests {
    @Test func belowTheMaximumEveryConnectionIsAccepted() {
        var table = ConnectionTable(maximum: 3)
        for id: ConnectionTable.ID in 1...3 {
            #expect(table.open(id) == .accept(evicting: nil))
            #expect(table.phase(of: id) == .idle)
        }
        #expect(table.count == 3)
    }

    @Test func atTheMaximumTheLongestIdleMakesRoom() {
        var table = ConnectionTable(maximum: 3)
        for id: ConnectionTable.ID in 1...3 { _ = table.open(id) }
        // 1 served a request and went idle again: 2 has now been idle the longest.
        table.update(1, to: .reading)
        table.update(1, to: .answering)
        table.update(1, to: .idle)
        #expect(table.open(4) == .accept(evicting: 2))
        #expect(table.phase(of: 2) == nil)
        #expect(table.open(5) == .accept(evicting: 3))
        #expect(table.open(6) == .accept(evicting: 1))
        #expect(table.count == 3)
    }

    @Test func slowReadersMakeRoomOnlyWhenNoneIsIdleAndAnsweredOnesNever() {
        var table = ConnectionTable(maximum: 3)
        for id: ConnectionTable.ID in 1...3 { _ = table.open(id) }
        table.update(1, to: .reading)
        table.update(2, to: .answering)
        table.update(3, to: .reading)
        // No idle one: the one reading its request the longest goes.
        #expect(table.open(4) == .accept(evicting: 1))
        table.update(4, to: .answering)
        #expect(table.open(5) == .accept(evicting: 3))
        table.update(5, to: .answering)
        // Every connection is being answered (an event stream, a turn's 202 on its way).
        #expect(table.open(6) == .refuse)
        #expect(table.phase(of: 6) == nil)
        #expect(table.count == 3)
        table.close(2)
        #expect(table.open(6) == .accept(evicting: nil))
    }

    @Test func aClosedOrEvictedConnectionIsForgotten() {
        var table = ConnectionTable(maximum: 2)
        _ = table.open(1)
        _ = table.open(2)
        table.close(1)
        table.update(1, to: .reading)
        #expect(table.phase(of: 1) == nil)
        #expect(table.open(3) == .accept(evicting: nil))
        #expect(table.open(4) == .accept(evicting: 2))
        // The evicted connection's own close arrives later and changes nothing.
        table.close(2)
        #expect(table.count == 2)
    }

    @Test func manyRequestsOnFewConnectionsKeepTheOrderExact() {
        var table = ConnectionTable(maximum: 2)
        _ = table.open(1)
        _ = table.open(2)
        for _ in 0..<10_000 {
            for id: ConnectionTable.ID in [2, 1] {
                table.update(id, to: .reading)
                table.update(id, to: .answering)
                table.update(id, to: .idle)
            }
        }
        #expect(table.open(3) == .accept(evicting: 2))
        #expect(table.open(4) == .accept(evicting: 1))
    }

    @Test func theDerivedMaximumLeavesRoomForTheStoreAgentsAndControlSocket() {
        #expect(DescriptorLimit(soft: 1024, hard: 4096).derivedMaxConnections(maxConcurrentTurns: 64) == 704)
        #expect(DescriptorLimit(soft: 2048, hard: 2048).derivedMaxConnections(maxConcurrentTurns: 64) == 1728)
        #expect(DescriptorLimit(soft: 524_288, hard: 524_288).derivedMaxConnections(maxConcurrentTurns: 64) == 65536)
        #expect(DescriptorLimit(soft: 256, hard: 256).derivedMaxConnections(maxConcurrentTurns: 64) == 16)
    }
}
