import Foundation
import PorticoTesting
import Testing

/// APIcast's HTTPS listener (`APICAST_HTTPS_PORT`, `APICAST_HTTPS_CERTIFICATE`, `APICAST_HTTPS_CERTIFICATE_KEY`)
/// on the real gateway, checked with curl against the test CA.
@Suite(.serialized) struct GatewayHTTPSTests {
    typealias H = GatewayHarness

    static func curl(_ arguments: [String]) throws -> (status: Int, body: String) {
        let (status, body) = try MeteringProcessTests.curl(["--max-time", "10"] + arguments)
        return (status, body)
    }

    @Test(.enabled(if: TestCertificates.isAvailable)) func servesHTTPSBesideHTTP() async throws {
        let certs = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let httpsPort = LoopbackPorts.base(count: 1)
        let h = try GatewayHarness(services: [H.service(id: 1)], environment: [
            "APICAST_HTTPS_PORT": String(httpsPort), "APICAST_HTTPS_CERTIFICATE": certs.serverCertificate,
            "APICAST_HTTPS_CERTIFICATE_KEY": certs.serverKey,
        ], upstream: { r in .init(status: 200, body: "proto=\(r.header("X-Forwarded-Proto") ?? "-")") })
        defer { h.stop() }
        try await h.waitReady()
        var ready = 0
        for _ in 0..<100 where ready != 200 {
            ready = try HTTP.send("http://127.0.0.1:\(h.managementPort)/status/ready").status
            if ready != 200 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ready == 200, "ready once the HTTPS listener serves too")

        let secure = try Self.curl(["--cacert", certs.caCertificate, "https://localhost:\(httpsPort)/?user_key=k"])
        #expect(secure.status == 200 && secure.body == "proto=https")
        #expect(try h.call("/?user_key=k").body == "proto=http")
        // The certificate is checked by the client as usual: an unrelated CA fails the handshake.
        #expect(try Self.curl(["--cacert", certs.unrelatedCACertificate, "https://localhost:\(httpsPort)/?user_key=k"]).status == 0)
        // HTTP/2 when the client offers it (ALPN), HTTP/1.1 otherwise; the same pipeline answers both.
        func negotiated(_ flag: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            p.arguments = ["-s", "--max-time", "10", flag, "--cacert", certs.caCertificate, "-w", " %{http_version} %{http_code}",
                           "https://localhost:\(httpsPort)/?user_key=k"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        #expect(try negotiated("--http2") == "proto=https 2 200")
        #expect(try negotiated("--http1.1") == "proto=https 1.1 200")
        // The gateway's own answers (here a denial) go out over HTTP/2 too.
        h.backend.setHandler { r in r.query["user_key"] == "bad" ? .init(status: 403, headers: [("3scale-rejection-reason", "user_key_invalid")]) : .init(status: 200) }
        let denied = try Self.curl(["--http2", "--cacert", certs.caCertificate, "https://localhost:\(httpsPort)/?user_key=bad"])
        #expect(denied.status == 403 && denied.body == "Authentication failed")
        // Plain HTTP on the HTTPS port is not served.
        #expect(try Self.curl(["http://127.0.0.1:\(httpsPort)/?user_key=k"]).status != 200)
    }

    @Test func anHTTPSPortWithoutACertificateIsAConfigurationError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-https-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, text) = try ServeProcessTests.run(["config", "check", "--data-dir", dir], environment: ["APICAST_HTTPS_PORT": "8443"])
        #expect(status != 0)
        #expect(text.contains("APICAST_HTTPS_CERTIFICATE_KEY"))
    }

    /// `upstream_mtls`: an HTTPS upstream that wants a client certificate gets the product's, and with
    /// `verify: true` its own certificate is checked against the policy's CA list.
    @Test(.enabled(if: TestCertificates.isAvailable)) func upstreamMutualTLS() async throws {
        let certs = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let upstream = try StubHTTPServer(tls: .init(certificate: certs.serverCertificate, key: certs.serverKey, clientCA: certs.caCertificate),
                                          handler: { r in .init(status: 200, body: "mtls \(r.uri)") })
        defer { upstream.stop() }
        let ca = try String(contentsOfFile: certs.caCertificate, encoding: .utf8)
        let otherCA = try String(contentsOfFile: certs.unrelatedCACertificate, encoding: .utf8)
        let key = "data:application/x-x509-ca-cert;name=client.key;base64," + (try Data(contentsOf: URL(fileURLWithPath: certs.clientKey))).base64EncodedString()
        func mtls(verify: Bool, ca: [String]) -> [String: Any] {
            ["name": "upstream_mtls", "configuration": ["certificate_type": "path", "certificate": certs.clientCertificate,
                                                        "certificate_key_type": "embedded", "certificate_key": key, "verify": verify, "ca_certificates": ca]]
        }
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        func product(_ id: Int, _ host: String, _ chain: [[String: Any]]) -> [String: Any] {
            H.service(id: id, proxy: ["hosts": [host], "api_backend": upstream.httpsURL], chain: chain)
        }
        let h = try GatewayHarness(services: [product(1, "verified.test", [mtls(verify: true, ca: [ca]), apicast]),
                                              product(2, "plain.test", [apicast]),
                                              product(3, "wrong-ca.test", [mtls(verify: true, ca: [otherCA]), apicast]),
                                              product(4, "unverified.test", [mtls(verify: false, ca: []), apicast])])
        defer { h.stop() }
        try await h.waitReady()
        let verified = try h.call("/a?user_key=k", host: "verified.test")
        #expect(verified.status == 200 && verified.body == "mtls /a?user_key=k")
        #expect(try h.call("/a?user_key=k", host: "verified.test").status == 200, "a pooled connection is reused")
        #expect(try h.call("/a?user_key=k", host: "plain.test").status == 502, "without the policy: no client certificate, and the test CA is not a system root")
        #expect(try h.call("/a?user_key=k", host: "wrong-ca.test").status == 502, "verify: the upstream's certificate is not signed by the listed CA")
        #expect(try h.call("/a?user_key=k", host: "unverified.test").status == 200, "verify: false presents the certificate without checking the upstream")
        // A key that does not load fails the policy: the product answers 503 rather than going without it.
        let broken = try GatewayHarness(services: [product(5, "broken.test", [["name": "upstream_mtls", "configuration": [
            "certificate_type": "path", "certificate": certs.clientCertificate, "certificate_key_type": "path", "certificate_key": "/nonexistent.key"]], apicast])])
        defer { broken.stop() }
        try await broken.waitReady()
        #expect(try broken.call("/a?user_key=k", host: "broken.test").status == 503)
    }

    /// `http_proxy`: plain-HTTP upstreams are asked through the proxy in absolute form, HTTPS ones through a
    /// `CONNECT` tunnel with TLS to the upstream inside it; the proxy URL's credentials go as Proxy-Authorization.
    @Test(.enabled(if: TestCertificates.isAvailable)) func upstreamsThroughAForwardProxy() async throws {
        let certs = try TestCertificates()
        defer { try? FileManager.default.removeItem(atPath: certs.directory) }
        let proxy = try ForwardProxyStub()
        defer { proxy.stop() }
        let secure = try StubHTTPServer(tls: .init(certificate: certs.serverCertificate, key: certs.serverKey), handler: { r in .init(status: 200, body: "tls \(r.uri)") })
        defer { secure.stop() }
        let ca = try String(contentsOfFile: certs.caCertificate, encoding: .utf8)
        let key = "data:application/x-x509-ca-cert;name=client.key;base64," + (try Data(contentsOf: URL(fileURLWithPath: certs.clientKey))).base64EncodedString()
        // upstream_mtls with the test CA lets the gateway trust the HTTPS upstream inside the tunnel.
        let trust: [String: Any] = ["name": "upstream_mtls", "configuration": ["certificate_type": "path", "certificate": certs.clientCertificate,
                                                                               "certificate_key_type": "embedded", "certificate_key": key,
                                                                               "verify": true, "ca_certificates": [ca]]]
        let viaProxy: [String: Any] = ["name": "http_proxy", "configuration": ["all_proxy": "http://gw:pa%40ss@127.0.0.1:\(proxy.port)"]]
        let apicast: [String: Any] = ["name": "apicast", "configuration": [:]]
        let h = try GatewayHarness(services: [
            H.service(id: 1, proxy: ["hosts": ["plain.test"]], chain: [viaProxy, apicast]),
            H.service(id: 2, proxy: ["hosts": ["secure.test"], "api_backend": secure.httpsURL], chain: [trust, viaProxy, apicast]),
        ])
        defer { h.stop() }
        try await h.waitReady()
        let plain = try h.call("/a?user_key=k", host: "plain.test")
        #expect(plain.status == 200 && plain.body == "proxied \(h.upstream.baseURL)/a?user_key=k", "answered by the proxy, asked in absolute form")
        #expect(h.upstream.requests.isEmpty)
        let basic = "Proxy-Authorization: Basic " + Data("gw:pa@ss".utf8).base64EncodedString()
        #expect(proxy.received.first?.contains(basic) == true)
        let tunnelled = try h.call("/b?user_key=k", host: "secure.test")
        #expect(tunnelled.status == 200 && tunnelled.body == "tls /b?user_key=k")
        #expect(proxy.received.contains { $0.hasPrefix("CONNECT localhost:\(secure.port) HTTP/1.1") && $0.contains(basic) })
        #expect(try h.call("/c?user_key=k", host: "secure.test").status == 200)
        // A proxy that cannot be reached is the upstream failing: 502.
        proxy.stop()
        let unreachable = try GatewayHarness(services: [H.service(id: 3, proxy: ["hosts": ["gone.test"]], chain: [viaProxy, apicast])])
        defer { unreachable.stop() }
        try await unreachable.waitReady()
        #expect(try unreachable.call("/d?user_key=k", host: "gone.test").status == 502)
    }
}
