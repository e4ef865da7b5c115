import Foundation

/// What the registry records about one imported model version. Stored as one JSON file per
/// name and version (`registry/<name>/<version>.json`); keys are snake_case.
public struct ModelManifest: Codable, Sendable, Equatable {
  /// Bumped when a field changes meaning; readers refuse versions they don't know.
  public static let currentSchema = 1

  public var schema: Int = currentSchema
  public var name: ModelName
  public var version: ModelVersion
  /// SHA-256 of the whole GGUF file.
  public var digest: Digest
  public var size: Int
  public var architecture: String
  public var parameters: Int
  /// Storage types, most bytes first.
  public var quantTypes: [QuantTypeUsage]
  public var contextLength: Int?
  public var chatTemplate: ChatTemplateInfo
  /// `general.license`, when the file names one.
  public var license: String?
  /// `general.name`, when the file names one.
  public var modelName: String?
  public var createdAt: Date
  /// Absolute path the file was imported from (informational; the blob is the source of truth).
  public var source: String
  /// How the bytes were stored: `reflink` (shared extents, nothing copied) or `copy`.
  public var storedBy: String
  public var signatures: [ModelSignature] = []
  /// How the stored file is encrypted at rest (`envelope-aes-256-gcm`), or nil for a plain file.
  /// `digest` and `size` are always the plaintext's.
  public var encryption: String?

  public var reference: String { "\(name):\(version)" }
  public var isEncrypted: Bool { encryption != nil }

  /// Import order: by creation time (whole seconds, as stored), then by auto-assigned number,
  /// then by label. Stores return versions in this order; the last is the latest.
  public static func importOrder(_ a: ModelManifest, _ b: ModelManifest) -> Bool {
    (a.createdAt, a.version.number ?? -1, a.version.value) < (b.createdAt, b.version.number ?? -1, b.version.value)
  }

  /// Now, to the millisecond that manifests keep, so a manifest reads back equal to the one
  /// written. Whole seconds are not enough: two imports in the same second must still list in
  /// the order they were made.
  static func now() -> Date { Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000) }
}

public struct QuantTypeUsage: Codable, Sendable, Equatable {
  /// ggml's name, e.g. `Q4_K`.
  public var type: String
  public var tensors: Int
  public var bytes: Int
}

public struct ChatTemplateInfo: Codable, Sendable, Equatable {
  public var present: Bool
  /// SHA-256 of the template text, so two versions can be told apart without storing it twice.
  public var sha256: String?
}

/// A detached Ed25519 signature over a model's digest and size (see `SignedStatement`).
public struct ModelSignature: Codable, Sendable, Equatable {
  public static let format = "hearth-model-signature-v1"
  public var format: String = ModelSignature.format
  public var digest: Digest
  public var size: Int
  /// `mk_` + the first 8 bytes of SHA-256 of the raw public key, in hex.
  public var keyID: String
  /// Base64 of the 64-byte signature.
  public var signature: String

  // The coders convert snake_case; "keyId" is what `key_id` converts to and from.
  enum CodingKeys: String, CodingKey {
    case format, digest, size, signature
    case keyID = "keyId"
  }
}

enum ManifestCoding {
  static func encoder() -> JSONEncoder {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.keyEncodingStrategy = .convertToSnakeCase
    e.dateEncodingStrategy = .custom { date, encoder in
      var c = encoder.singleValueContainer()
      try c.encode(ManifestCoding.millisecondFormatter().string(from: date))
    }
    return e
  }

  static func decoder() -> JSONDecoder {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    // Manifests written before milliseconds were kept carry whole seconds; both read.
    d.dateDecodingStrategy = .custom { decoder in
      let c = try decoder.singleValueContainer()
      let text = try c.decode(String.self)
      if let date = ManifestCoding.millisecondFormatter().date(from: text) ?? ISO8601DateFormatter().date(from: text) { return date }
      throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 date: \(text)")
    }
    return d
  }

  static func millisecondFormatter() -> ISO8601DateFormatter {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f
  }

  static func encode<T: Encodable>(_ value: T) -> Data {
    // Encoding plain value types with no custom throwing paths cannot fail.
    (try? encoder().encode(value)).map { $0 + Data("\n".utf8) } ?? Data()
  }

  static func decode<T: Decodable>(_ type: T.Type, _ data: Data, path: String) throws(RegistryError) -> T {
    do { return try decoder().decode(type, from: data) } catch {
      throw .corruptManifest(path: path, reason: Self.reason(error))
    }
  }

  static func reason(_ error: any Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let c): return c.debugDescription
    case DecodingError.keyNotFound(let k, _): return "missing field '\(k.stringValue)'"
    case DecodingError.typeMismatch(_, let c): return "wrong type at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
    case DecodingError.valueNotFound(_, let c): return "missing value at \(c.codingPath.map(\.stringValue).joined(separator: "."))"
    default: return "\(error)"
    }
  }
}
