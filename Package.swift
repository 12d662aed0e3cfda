// swift-tools-version: 6.1
import PackageDescription

// Module graph: see ../shared/DESIGN.md §3. A target imports only lower layers; roles never import each other.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "portico",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "portico", targets: ["PorticoCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // L0
        .target(name: "PorticoCore", swiftSettings: strict),
        .target(name: "PorticoRedis", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        // L1
        .target(name: "PorticoStore", dependencies: ["PorticoCore"], swiftSettings: strict),
        .target(name: "PorticoMeteringStore", dependencies: [
            "PorticoCore", "PorticoRedis",
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        // L2
        .target(name: "PorticoSQLite", dependencies: [
            "PorticoCore", "PorticoStore",
            .product(name: "SQLiteNIO", package: "sqlite-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "PorticoPostgres", dependencies: [
            "PorticoCore", "PorticoStore",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], swiftSettings: strict),
        // L3
        .target(name: "PorticoAdmin", dependencies: [
            "PorticoCore", "PorticoStore", "PorticoMeteringStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: strict),
        .target(name: "PorticoMetering", dependencies: [
            "PorticoCore", "PorticoMeteringStore",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "PorticoGateway", dependencies: [
            "PorticoCore",
            "PorticoRedis",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            .product(name: "JWTKit", package: "jwt-kit"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
        ], swiftSettings: strict),
        // L4
        .target(name: "PorticoOperations", dependencies: [
            "PorticoCore", "PorticoStore", "PorticoSQLite", "PorticoPostgres", "PorticoMeteringStore", "PorticoMetering", "PorticoRedis",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
        ], swiftSettings: strict),
        // L5
        .target(name: "PorticoServer", dependencies: [
            "PorticoOperations",
            "PorticoCore", "PorticoStore", "PorticoSQLite", "PorticoPostgres", "PorticoAdmin", "PorticoMetering", "PorticoMeteringStore", "PorticoRedis",
            "PorticoGateway",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: strict),
        // L6
        .executableTarget(name: "PorticoCLI", dependencies: [
            "PorticoServer", "PorticoOperations", "PorticoCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),
        .target(name: "PorticoTesting", dependencies: [
            "PorticoCore", "PorticoStore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .testTarget(name: "PorticoRedisTests", dependencies: [
            "PorticoCore", "PorticoRedis", "PorticoMeteringStore", "PorticoTesting",
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: strict),
        // Tests
        .testTarget(name: "PorticoCoreTests", dependencies: ["PorticoCore"], swiftSettings: strict),
        .testTarget(name: "PorticoStoreTests", dependencies: [
            "PorticoCore", "PorticoStore", "PorticoSQLite", "PorticoPostgres", "PorticoTesting",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .testTarget(name: "PorticoAdminTests", dependencies: [
            "PorticoCore", "PorticoStore", "PorticoAdmin", "PorticoTesting", "PorticoMeteringStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], swiftSettings: strict),
        .testTarget(name: "PorticoEndToEndTests", dependencies: ["PorticoTesting"], swiftSettings: strict),
        .testTarget(name: "PorticoMeteringStoreTests", dependencies: ["PorticoCore", "PorticoMeteringStore", "PorticoRedis"], swiftSettings: strict),
        .testTarget(name: "PorticoOperationsTests", dependencies: ["PorticoOperations", "PorticoCore", "PorticoMeteringStore", "PorticoRedis", "PorticoPostgres"], swiftSettings: strict),
        .testTarget(name: "PorticoGatewayTests", dependencies: [
            "PorticoCore", "PorticoGateway",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .testTarget(name: "PorticoServerTests", dependencies: [
            "PorticoServer", "PorticoTesting",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: strict),
        .testTarget(name: "PorticoMeteringTests", dependencies: [
            "PorticoCore", "PorticoMeteringStore", "PorticoMetering",
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
    ]
)
