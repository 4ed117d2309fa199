// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Baton",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "baton", targets: ["baton"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.25.0"),
    ],
    targets: [
        // libsystemd: sd_notify, the fd store, LISTEN_FDS, the journal.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // Swift face of libsystemd.
        .target(
            name: "BatonSystemd",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // SQLite's process-wide settings, which only C can pass.
        .target(
            name: "CSQLiteSettings",
            linkerSettings: [.linkedLibrary("sqlite3")]
        ),
        // Sessions, turns, the drain, the store: no I/O but SQLite.
        .target(
            name: "BatonCore",
            dependencies: [
                "CSQLiteSettings",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C interface, as GRDB links it: binding the hot statements' values.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Agent back-ends: a process per turn, an HTTP service, and its health.
        .target(
            name: "BatonAgents",
            dependencies: [
                "BatonCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        // Baton as a Matrix bot: the client-server API over AsyncHTTPClient.
        .target(
            name: "BatonMatrix",
            dependencies: [
                "BatonCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        // The chat API and the control API over Hummingbird, and the web page at `/`.
        .target(
            name: "BatonHTTP",
            dependencies: [
                "BatonCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // The page's sources; the binary holds them (scripts/embed-page.py).
            exclude: ["Page"]
        ),
        // The PostgreSQL store: several processes on one database, leases, LISTEN/NOTIFY.
        .target(
            name: "BatonPostgres",
            dependencies: [
                "BatonCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Wiring: builds the whole application.
        .target(
            name: "BatonApp",
            dependencies: [
                "BatonCore",
                "BatonAgents",
                "BatonHTTP",
                "BatonMatrix",
                "BatonPostgres",
                "BatonSystemd",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .executableTarget(
            name: "baton",
            dependencies: [
                "BatonApp",
                "BatonSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A Hummingbird endpoint that answers 202 without storing: the benchmarks' baseline.
        .executableTarget(
            name: "bare-server",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "bench/BareServer"
        ),
        // What the benchmark executables share: their options, the process's CPU time.
        .target(name: "BenchSupport", path: "bench/BenchSupport"),
        // The SQLite store alone, driven as the gateway drives it: CPU time per message.
        .executableTarget(
            name: "store-bench",
            dependencies: ["BatonCore", "BenchSupport"],
            path: "bench/StoreBench"
        ),
        // The gateway alone, over a store that keeps nothing: CPU time per message.
        .executableTarget(
            name: "gateway-bench",
            dependencies: ["BatonCore", "BenchSupport", .product(name: "Logging", package: "swift-log")],
            path: "bench/GatewayBench"
        ),
        // Helpers the tests share: running the real binary, HTTP and SSE clients.
        .target(
            name: "BatonTestSupport",
            dependencies: [
                "BatonCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                // Stores as earlier releases left them, for upgrade tests.
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Tests/BatonTestSupport"
        ),
        .testTarget(
            name: "BatonCoreTests",
            dependencies: [
                "BatonCore", "BatonTestSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Yams", package: "Yams"),
            ]
        ),
        // The PostgreSQL store in-process, against the throwaway server of scripts/postgres.sh.
        .testTarget(
            name: "BatonPostgresTests",
            dependencies: [
                "BatonPostgres",
                "BatonCore",
                "BatonTestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The Matrix adapter: its rules in-process, and the real binary against a real Synapse.
        .testTarget(
            name: "BatonMatrixTests",
            dependencies: [
                "BatonMatrix",
                "BatonCore",
                "BatonTestSupport",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BatonHTTPTests",
            dependencies: [
                "BatonApp",
                "BatonTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BatonAgentsTests",
            dependencies: [
                "BatonAgents",
                "BatonApp",
                "BatonTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The real `baton` binary: signals, exit codes, systemd.
        .testTarget(
            name: "BatonProcessTests",
            dependencies: [
                "BatonTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
