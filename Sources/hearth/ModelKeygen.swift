import ArgumentParser
import Foundation
import Registry

/// `hearth model keygen --out PATH`: a new Ed25519 key pair for model signatures.
struct ModelKeygen: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "keygen",
    abstract: "Create an Ed25519 key pair for signing models: PATH (private, mode 0600) and PATH.pub (public, for trusted-keys/).")

  @Option(help: "Where to write the private key; the public key goes to the same path plus .pub.") var out: String

  func run() throws {
    let key = ModelSigningKeys.generate()
    do {
      let pub = try ModelSigningKeys.writeKeyPair(key, privatePath: out)
      print("wrote \(out) and \(pub) (key \(ModelSigningKeys.keyID(key.publicKey)))")
    } catch { failRegistry(error) }
  }
}
