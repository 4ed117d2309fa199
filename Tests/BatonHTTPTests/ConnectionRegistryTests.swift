import CoreMetrics
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import BatonHTTP

/// What a listener's shutdown asks the registry: is any connection accepted that has not
/// sent its request yet? The listener quiesces (closing every connection without a
/// request) only when the answer is no, so a connection must count from its accept to its
/// first byte, through every step NIO takes in between.
@Suite struct ConnectionRegistryTests {
    let registry = ConnectionRegistry(
        limits: .init(maxConnections: 10, requestTimeout: 10, idleTimeout: 60), logger: Logger(label: "test"),
        metricsFactory: NOOPMetricsHandler.instance)

    @Test func aConnectionCountsFromItsAcceptToItsFirstByte() throws {
        #expect(!registry.hasSilentConnections)
        registry.arriving()
        #expect(registry.hasSilentConnections, "accepted, not yet handed to the accept loop")
        // NIO hands an accepted connection to the accept loop before it activates it: the
        // guard is in its pipeline but has not registered it yet.
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(registry: registry))
        registry.arrived()
        #expect(registry.hasSilentConnections, "in the accept loop, not yet registered")
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        #expect(registry.openCount == 1)
        #expect(registry.hasSilentConnections, "registered, nothing sent yet")
        try channel.writeInbound(ByteBuffer(string: "POST /v1/messages HTTP/1.1\r\n"))
        #expect(!registry.hasSilentConnections, "its request has begun")
        _ = try channel.finish()
        #expect(registry.openCount == 0)
    }

    @Test func aConnectionClosedBeforeItWasRegisteredIsNotWaitedFor() throws {
        registry.arriving()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionGuard(registry: registry))
        registry.arrived()
        #expect(registry.hasSilentConnections)
        try channel.close().wait()
        #expect(!registry.hasSilentConnections)
        #expect(registry.openCount == 0)
    }
}
