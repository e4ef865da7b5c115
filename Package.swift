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
    .executableTarget(
      name: "hearth",
      dependencies: ["Engine", "Planner", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: optimize),
    .testTarget(name: "GGUFTests", dependencies: ["GGUF"]),
    .testTarget(name: "KernelsTests", dependencies: ["Kernels", "GGUF"]),
    .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "GGUF"], exclude: ["Fixtures"]),
    .testTarget(name: "ModelsTests", dependencies: ["Models", "Kernels", "GGUF"]),
    .testTarget(name: "EngineTests", dependencies: ["Engine"]),
    .testTarget(name: "PlannerTests", dependencies: ["Planner", "GGUF"]),
    .testTarget(name: "ServingAPITests", dependencies: ["ServingAPI", "Engine"]),
  ]
)
