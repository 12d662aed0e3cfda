// swift-tools-version: 6.1
import PackageDescription

// A measuring instrument, not part of Portico: see Sources/NIOFloorRelay/main.swift and scripts/bench-nio-floor.
let package = Package(
    name: "nio-floor",
    dependencies: [.package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")],
    targets: [
        .executableTarget(name: "NIOFloorRelay", dependencies: [
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
