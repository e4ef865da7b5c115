// swift-tools-version: 6.1
import PackageDescription

// Engine modules (GGUF ... Engine) have no package dependencies so that their tests build in seconds.
// Heavy server dependencies enter only at the Server/ControlPlane layer.
let optimize: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
  name: "Hearth",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "hearth", targets: ["hearth"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
  ],
  targets: [
    .target(name: "GGUF", swiftSettings: optimize),
    .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-fno-math-errno"])]),
    .target(name: "Kernels", dependencies: ["GGUF", "CKernels"], swiftSettings: optimize),
    .target(name: "Tokenizers", dependencies: ["GGUF"], swiftSettings: optimize),
    .target(name: "Models", dependencies: ["GGUF", "Kernels"], swiftSettings: optimize),
    .target(name: "Engine", dependencies: ["Models", "Tokenizers", "Kernels", "GGUF"], swiftSettings: optimize),
    .target(name: "Planner", dependencies: ["GGUF"], swiftSettings: optimize),
    .target(name: "ServingAPI", dependencies: ["Engine"], swiftSettings: optimize),
    // The model registry and the compression/evaluation tools: engine modules and swift-crypto only,
    // no networking or database, so their tests build without the server stack.
    .target(
      name: "Registry",
      dependencies: ["GGUF", "Models", "Tokenizers", .product(name: "Crypto", package: "swift-crypto")],
      swiftSettings: optimize),
    .target(name: "Lifecycle", dependencies: ["GGUF", "Kernels", "Models", "Engine", "Tokenizers"], swiftSettings: optimize),
    .target(
      name: "ControlPlane",
      dependencies: [
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: optimize),
    .target(
      name: "Server",
      dependencies: [
        "ServingAPI", "Engine", "Kernels", "GGUF", "ControlPlane", "LDAP", "Registry",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HummingbirdTLS", package: "hummingbird"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
      ],
      swiftSettings: optimize),
    .target(
      name: "LDAP",
      dependencies: [
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOTLS", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ]),
    .executableTarget(
      name: "hearth",
      dependencies: [
        "Engine", "Planner", "Server", "ControlPlane", "Registry", "Lifecycle", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: optimize),
    .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
    .testTarget(name: "CKernelsTests", dependencies: ["CKernels"]),
    .testTarget(name: "KernelsTests", dependencies: ["Kernels", "GGUF"]),
    .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "GGUF"], exclude: ["Fixtures"]),
    .testTarget(name: "ModelsTests", dependencies: ["Models", "Kernels", "GGUF"]),
    .testTarget(name: "EngineTests", dependencies: ["Engine"]),
    .testTarget(name: "PlannerTests", dependencies: ["Planner", "GGUF"]),
    .testTarget(name: "ServingAPITests", dependencies: ["ServingAPI", "Engine"]),
    .testTarget(name: "EmbeddingTests", dependencies: ["Engine", "Models", "Kernels", "GGUF", "Tokenizers"]),
    .testTarget(
      name: "LDAPTests",
      dependencies: [
        "LDAP",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ]),
    .testTarget(name: "ControlPlaneTests", dependencies: ["ControlPlane"]),
    .testTarget(name: "RegistryTests", dependencies: ["Registry", "GGUF", .product(name: "Crypto", package: "swift-crypto")]),
    .testTarget(name: "LifecycleTests", dependencies: ["Lifecycle", "Engine", "Models", "Kernels", "GGUF"]),
    .testTarget(
      name: "ServerTests",
      dependencies: ["Server", "ServingAPI", "Engine", "ControlPlane", "Registry", .product(name: "HummingbirdTesting", package: "hummingbird")]),
  ]
)
