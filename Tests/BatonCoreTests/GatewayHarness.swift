@testable import BatonCore
import Foundation
import Logging

/// A gateway in this process over a SQLite store in a fresh folder (seen through `S`, a
/// test double that forwards to it), with its writer; the demo agent with no delay unless
/// given another. The test runs the writer and the gateway, and removes the folder.
struct GatewayHarness<S: Store> {
    let directory: String
    let sqlite: SQLiteStore
    let store: S
    let writer: StoreWriter
    let bus: EventBus
    let gateway: Gateway

    /// `directory`: an earlier harness's, as the next process finds what the last one left.
    init(
        store wrap: (SQLiteStore) -> S, agent: any Agent = DemoAgent(delay: .zero), directory existing: String? = nil,
        configure: (inout Configuration) -> Void = { _ in }
    ) throws {
        directory = existing ?? FileManager.default.temporaryDirectory.appendingPathComponent("baton-gateway-\(UUID().uuidString)").path
        sqlite = try SQLiteStore(directory: directory)
        store = wrap(sqlite)
        bus = EventBus()
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        writer = StoreWriter(store: store, bus: bus, logger: logger)
        var configuration = Configuration(listen: ListenAddress(host: "127.0.0.1", port: 0), stateDirectory: directory)
        configuration.agent.delay = 0
        configure(&configuration)
        gateway = Gateway(
            configuration: configuration, store: store, recovery: try sqlite.recovery(), writer: writer, bus: bus, agent: agent,
            supervisor: nil, logger: logger)
    }

    func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}
