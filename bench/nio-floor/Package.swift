// swift-tools-version:6.0
// A measuring stick, not part of Palisade: the cheapest proxy shape SwiftNIO allows (one app
// connection per client connection, bytes relayed both ways, no HTTP parsing at all). Its
// throughput is the ceiling for any NIO-based proxy on the machine; see bench/floor.sh.
import PackageDescription

let package = Package(
    name: "nio-floor",
    dependencies: [.package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2")],
    targets: [
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        )
    ]
)
