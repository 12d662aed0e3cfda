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
        // Plain HTTP on the HTTPS port is not served.
        #expect(try Self.curl(["http://127.0.0.1:\(httpsPort)/?user_key=k"]).status != 200)
    }

    @Test func anHTTPSPortWithoutACertificateIsAConfigurationError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-https-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = ServeProcessTests.process(["config", "check", "--data-dir", dir], environment: ["APICAST_HTTPS_PORT": "8443"])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus != 0)
        #expect(text.contains("APICAST_HTTPS_CERTIFICATE_KEY"))
    }
}
