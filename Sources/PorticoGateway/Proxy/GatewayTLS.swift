import NIOSSL

/// The gateway's HTTPS listener certificate (APIcast's `APICAST_HTTPS_CERTIFICATE` and
/// `APICAST_HTTPS_CERTIFICATE_KEY`): a PEM certificate chain and its private key, TLS 1.2 and 1.3, ALPN `h2` and
/// `http/1.1`.
public struct GatewayTLS: Sendable {
    let context: NIOSSLContext

    public init(certificatePath: String, keyPath: String) throws(GatewayConfigurationError) {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificatePath) } catch {
            throw GatewayConfigurationError("APICAST_HTTPS_CERTIFICATE \(certificatePath) is not a readable PEM certificate (\(error))")
        }
        guard !chain.isEmpty else { throw GatewayConfigurationError("APICAST_HTTPS_CERTIFICATE \(certificatePath) holds no certificate") }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyPath, format: .pem) } catch {
            throw GatewayConfigurationError("APICAST_HTTPS_CERTIFICATE_KEY \(keyPath) is not a readable PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        // As APIcast's HTTPS listener: HTTP/2 for clients that offer it, HTTP/1.1 for the others.
        configuration.applicationProtocols = ["h2", "http/1.1"]
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw GatewayConfigurationError("the HTTPS certificate and key do not make a usable TLS configuration (do they belong together?): \(error)")
        }
    }
}
