import NIOSSL

/// TLS for a Redis connection (`rediss://`), with 3scale's settings: a CA to trust (`REDIS_SSL_CA`) and, for
/// servers that require client certificates, a certificate and key (`REDIS_SSL_CERT`, `REDIS_SSL_KEY`).
/// Without a CA the system's trust roots are used. The server's certificate is always verified.
public struct RedisTLS: Sendable, Equatable {
    /// PEM text of the CA certificate(s) to trust; nil for the system roots.
    public var trustRootsPEM: String?
    public var certificateChainPEM: String?
    public var privateKeyPEM: String?

    public init(trustRootsPEM: String? = nil, certificateChainPEM: String? = nil, privateKeyPEM: String? = nil) {
        self.trustRootsPEM = trustRootsPEM
        self.certificateChainPEM = certificateChainPEM
        self.privateKeyPEM = privateKeyPEM
    }

    public func makeContext() throws(RedisConfigurationError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .fullVerification
        do {
            if let pem = trustRootsPEM {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
            }
            if let chain = certificateChainPEM {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMBytes(Array(chain.utf8)).map { .certificate($0) }
            }
            if let key = privateKeyPEM {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key.utf8), format: .pem))
            }
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw RedisConfigurationError("the Redis TLS settings are not usable (CA, certificate or key is not valid PEM): \(error)")
        }
    }

    /// The name to check the server's certificate against: a host name. NIOSSL takes no IP literal here, so a server
    /// addressed by IP is verified by its certificate chain only.
    static func serverName(_ host: String) -> String? {
        let isIPv4 = host.split(separator: ".").count == 4 && host.allSatisfy { $0.isNumber || $0 == "." }
        return isIPv4 || host.contains(":") ? nil : host
    }
}
