import Foundation
import NIOSSL
import PorticoCore

/// `upstream_mtls` (reference/gateway.md §6.2): the product's `https` upstreams get this client certificate,
/// and with `verify: true` their certificate is checked against `ca_certificates` (the system's roots when the
/// list is empty). `verify: false`, APIcast's default, does not check the upstream's certificate at all for this
/// product — Portico verifies upstream certificates everywhere else, so this is the one place a configuration
/// turns verification off. Certificates and keys are PEM, given as a file path (`*_type: path`) or a base64
/// data URL (`embedded`, as porta's policy editor uploads them). The TLS context is built once, at load: a
/// certificate or key that does not load fails the policy. Connections made with it are pooled apart from
/// connections to the same upstream without it.
public final class UpstreamMTLSPolicy: Sendable {
    let context: NIOSSLContext
    /// Distinguishes this policy's pooled connections from others to the same host and port.
    let poolSuffix: String
    let verifies: Bool

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        let certificatePEM = try PEMSource.read(type: c["certificate_type"]?.stringValue ?? "path", c["certificate"]?.stringValue, field: "certificate")
        let keyPEM = try PEMSource.read(type: c["certificate_key_type"]?.stringValue ?? "path", c["certificate_key"]?.stringValue, field: "certificate_key")
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(certificatePEM.utf8)).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem))
        } catch {
            throw GatewayConfigurationError("certificate and certificate_key must be a PEM certificate and its PEM private key (\(error))")
        }
        guard !configuration.certificateChain.isEmpty else { throw GatewayConfigurationError("certificate holds no PEM certificate") }
        verifies = c["verify"] == .bool(true)
        if verifies {
            var roots: [NIOSSLCertificate] = []
            for entry in c["ca_certificates"]?.arrayValue ?? [] {
                guard let text = entry.stringValue else { continue }
                do { roots += try NIOSSLCertificate.fromPEMBytes(Array(text.utf8)) } catch {
                    throw GatewayConfigurationError("ca_certificates entries must be PEM certificates (\(error))")
                }
            }
            if !roots.isEmpty { configuration.trustRoots = .certificates(roots) }
            configuration.certificateVerification = .fullVerification
        } else {
            configuration.certificateVerification = .none
        }
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw GatewayConfigurationError("the client certificate and key do not form a TLS identity (\(error))")
        }
        poolSuffix = "#mtls-" + UUID().uuidString
    }
}
