import Foundation
import NIOSSL

/// `--tls-cert`, `--tls-key`, `--tls-min-version`, `--tls-client-ca`: HTTPS with TLS 1.3 only unless
/// 1.2 is asked for, and optional mutual TLS (a client without a certificate the CA signed is refused
/// in the handshake, before any HTTP).
public struct TLSSettings: Sendable, Equatable {
  public enum MinimumVersion: String, Sendable, CaseIterable {
    case v1_2 = "1.2", v1_3 = "1.3"
  }

  public var certificateFile: String
  public var privateKeyFile: String
  public var minimumVersion: MinimumVersion = .v1_3
  /// PEM of the CAs whose client certificates are accepted; nil: no client certificates asked for.
  public var clientCAFile: String?

  public init(certificateFile: String, privateKeyFile: String, minimumVersion: MinimumVersion = .v1_3, clientCAFile: String? = nil) {
    self.certificateFile = certificateFile
    self.privateKeyFile = privateKeyFile
    self.minimumVersion = minimumVersion
    self.clientCAFile = clientCAFile
  }

  /// Loads the files now, so a bad path or PEM stops the server at start with one line naming it.
  public func configuration() throws -> TLSConfiguration {
    let chain: [NIOSSLCertificate]
    do { chain = try NIOSSLCertificate.fromPEMFile(certificateFile) } catch {
      throw ServerConfigError("--tls-cert: cannot read a PEM certificate chain from \(certificateFile)")
    }
    guard !chain.isEmpty else { throw ServerConfigError("--tls-cert: no certificate in \(certificateFile)") }
    let key: NIOSSLPrivateKey
    do { key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem) } catch {
      throw ServerConfigError("--tls-key: cannot read a PEM private key from \(privateKeyFile)")
    }
    var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
    tls.minimumTLSVersion = minimumVersion == .v1_3 ? .tlsv13 : .tlsv12
    if let ca = clientCAFile {
      let roots: [NIOSSLCertificate]
      do { roots = try NIOSSLCertificate.fromPEMFile(ca) } catch {
        throw ServerConfigError("--tls-client-ca: cannot read PEM certificates from \(ca)")
      }
      guard !roots.isEmpty else { throw ServerConfigError("--tls-client-ca: no certificate in \(ca)") }
      tls.trustRoots = .certificates(roots)
      // Client certificates carry no host name to check; the CA's signature is the proof.
      tls.certificateVerification = .noHostnameVerification
    }
    return tls
  }
}
