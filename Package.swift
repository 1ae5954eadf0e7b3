// swift-tools-version:6.2
import PackageDescription

/// Every target of Palisade's own (never a dependency) builds with warnings as errors.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .treatAllWarnings(as: .error),
]

/// Release builds of the proxy itself skip the runtime exclusivity checks: on the request path
/// they cost about 8% of user time (each check also reads thread-local storage), measured with
/// `perf record` under bench/run.sh's load. Debug builds, which the tests run, keep them, and
/// the compiler's static checks stay on in every build. See docs/benchmarks.md.
let proxySettings: [SwiftSetting] =
    swiftSettings + [
        .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
    ]

let package = Package(
    name: "Palisade",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "palisade", targets: ["PalisadeCLI"]),
        .library(name: "PalisadeCore", targets: ["PalisadeCore"]),
    ],
    // Every package is pinned to one version, the transitive ones too, so that a build (the
    // Docker image's included) takes exactly the code that was tested; Package.resolved cannot be
    // committed here (the package mirror's commit ids differ from GitHub's). Updating: see
    // "Dependencies" in the README.
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", exact: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        // Transitive: pinned here only to fix their versions.
        .package(url: "https://github.com/apple/swift-algorithms.git", exact: "1.2.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", exact: "1.1.4"),
        .package(url: "https://github.com/apple/swift-atomics.git", exact: "1.3.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-collections.git", exact: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers.git", exact: "1.7.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", exact: "1.46.0"),
        .package(url: "https://github.com/apple/swift-numerics.git", exact: "1.1.1"),
        .package(url: "https://github.com/apple/swift-system.git", exact: "1.8.1"),
    ],
    targets: [
        // hiredis formats Redis commands and parses replies for the Redis store; NIO owns the socket.
        .systemLibrary(
            name: "CHiredis",
            // No pkgConfig: the headers are under /usr/include/hiredis, which the shim names, and
            // the module map links -lhiredis. pkg-config's -D_FILE_OFFSET_BITS=64 is a flag
            // SwiftPM refuses (a warning on every build), and nothing here depends on it.
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(
            name: "PalisadeCore",
            dependencies: [
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: proxySettings
        ),
        // `palisade demo`'s app, policy and client: shipped in the binary, kept out of the library.
        .target(
            name: "PalisadeDemo",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "PalisadeCLI",
            dependencies: [
                "PalisadeCore",
                "PalisadeDemo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: proxySettings
        ),
        .target(
            name: "PalisadeTesting",
            dependencies: [
                "PalisadeCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Vectors")],
            swiftSettings: swiftSettings
        ),
        // Uses one product of each package that Package.swift pins only to fix its version.
        .target(
            name: "PalisadeDependencyPins",
            dependencies: [
                .product(name: "Algorithms", package: "swift-algorithms"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "StructuredFieldValues", package: "swift-http-structured-headers"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "Numerics", package: "swift-numerics"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PalisadeCoreTests",
            dependencies: [
                "PalisadeCore", "PalisadeDemo", "PalisadeTesting",
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PalisadeIntegrationTests",
            dependencies: ["PalisadeCore", "PalisadeTesting", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
    ]
)
