import Foundation
import PorticoTesting
import Testing

/// §9.2 case 24: OpenID Connect tokens signed with keys made by openssl, verified by the real gateway.
@Suite(.serialized) struct GatewayOIDCTests {
    static let issuer = "https://idp.test/realms/demo"

    static func openssl(_ args: [String], input: Data? = nil) throws -> Data {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        let out = Pipe()
        let inPipe = Pipe()
        p.standardOutput = out
        p.standardInput = inPipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
        try inPipe.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return data
    }

    struct Key {
        var privatePath: String
        var publicPEM: String
        var ec: Bool
    }

    static func key(_ dir: String, ec: Bool) throws -> Key {
        let path = dir + (ec ? "/ec.pem" : "/rsa.pem")
        _ = try openssl(["genpkey", "-algorithm", ec ? "EC" : "RSA", "-pkeyopt", ec ? "ec_paramgen_curve:P-256" : "rsa_keygen_bits:2048", "-out", path])
        let pub = String(decoding: try openssl(["pkey", "-in", path, "-pubout"]), as: UTF8.self)
        return Key(privatePath: path, publicPEM: pub, ec: ec)
    }

    static func b64url(_ d: Data) -> String {
        d.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// ECDSA signatures come from openssl as DER; JWS wants r‖s, 32 bytes each.
    static func rawECDSA(_ der: Data) -> Data {
        let b = [UInt8](der)
        var i = 2
        func integer() -> [UInt8] {
            let length = Int(b[i + 1])
            var v = Array(b[(i + 2)..<(i + 2 + length)])
            i += 2 + length
            while v.count > 32, v.first == 0 { v.removeFirst() }
            return [UInt8](repeating: 0, count: 32 - v.count) + v
        }
        return Data(integer() + integer())
    }

    static func token(_ key: Key, kid: String, alg: String? = nil, claims: [String: Any]) throws -> String {
        let header = try JSONSerialization.data(withJSONObject: ["alg": alg ?? (key.ec ? "ES256" : "RS256"), "kid": kid, "typ": "JWT"])
        let payload = try JSONSerialization.data(withJSONObject: claims)
        let input = b64url(header) + "." + b64url(payload)
        let signature = try openssl(["dgst", "-sha256", "-sign", key.privatePath], input: Data(input.utf8))
        return input + "." + b64url(key.ec ? rawECDSA(signature) : signature)
    }

    @Test func case24_tokensAreVerified() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-oidc-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rsa = try Self.key(dir, ec: false), ec = try Self.key(dir, ec: true)
        let other = try { () throws -> Key in
            let sub = dir + "/other"
            try FileManager.default.createDirectory(atPath: sub, withIntermediateDirectories: true)
            return try Self.key(sub, ec: false)
        }()

        let backend = try StubHTTPServer(handler: GatewayHarness.authorizeAll)
        let upstream = try StubHTTPServer(handler: GatewayHarness.echo)
        defer { backend.stop(); upstream.stop() }
        func service(_ id: Int, host: String, claim: String?, chain: [[String: Any]]? = nil) -> [String: Any] {
            var proxy: [String: Any] = ["hosts": [host], "authentication_method": "oidc", "credentials_location": "headers",
                                        "oidc_issuer_endpoint": "https://client:secret@idp.test/realms/demo",
                                        "backend": ["endpoint": backend.baseURL], "api_backend": upstream.baseURL,
                                        "proxy_rules": [GatewayHarness.rule("GET", "/")]]
            if let claim { proxy["jwt_claim_with_client_id"] = claim }
            if let chain { proxy["policy_chain"] = chain }
            return ["id": id, "backend_version": "oauth", "backend_authentication_type": "service_token", "backend_authentication_value": "t", "proxy": proxy]
        }
        let entry: [String: Any] = ["issuer": Self.issuer, "config": ["id_token_signing_alg_values_supported": ["RS256", "ES256"]],
                                    "keys": ["rsa1": ["pem": rsa.publicPEM, "alg": "RS256"], "ec1": ["pem": ec.publicPEM, "alg": "ES256"]]]
        let check: [String: Any] = ["name": "jwt_claim_check", "configuration": [
            "rules": [["resource": "/admin", "methods": ["GET"], "operations": [["jwt_claim": "role", "op": "==", "value": "admin"]]],
                      // Liquid on both sides: the token's nested tenant must be the one the request names.
                      ["resource": "/tenant", "methods": ["GET"], "operations": [[
                          "jwt_claim": "{{ jwt.tenant.id }}", "jwt_claim_type": "liquid", "op": "==", "value": "{{ headers.X-Tenant }}", "value_type": "liquid"]]]],
            "error_message": "admins only"]]
        let claimCheck = service(3, host: "claims.test", claim: nil, chain: [check, ["name": "apicast", "configuration": [:]]])
        let roles: [String: Any] = ["name": "keycloak_role_check", "configuration": ["type": "whitelist", "scopes": [
            ["resource": "/books", "methods": ["GET"], "realm_roles": [["name": "reader"]], "client_roles": [["name": "viewer", "client": "shop"]]],
            // Liquid: the client whose role is needed is named by the request.
            ["resource": "/stores", "methods": ["GET"], "client_roles": [["name": "viewer", "client": "{{ headers.X-Store }}", "client_type": "liquid"]]]]]]
        let roleCheck = service(4, host: "roles.test", claim: nil, chain: [["name": "apicast", "configuration": [:]], roles])
        // token_introspection against a fake identity provider: explicit client (cached), and the issuer endpoint's client.
        let idp = try StubHTTPServer { _ in .init(status: 200, headers: [("Content-Type", "application/json")], body: #"{"active":false}"#) }
        defer { idp.stop() }
        let explicit: [String: Any] = ["name": "token_introspection", "configuration": [
            "auth_type": "client_id+client_secret", "client_id": "gw", "client_secret": "s3cret", "introspection_url": idp.baseURL + "/introspect",
            "max_cached_tokens": 10, "max_ttl_tokens": 60]]
        let fromIssuer: [String: Any] = ["name": "token_introspection", "configuration": ["auth_type": "use_3scale_oidc_issuer_endpoint"]]
        let introspected = service(5, host: "introspect.test", claim: nil, chain: [explicit, ["name": "apicast", "configuration": [:]]])
        let issuerIntrospected = service(6, host: "issuer.test", claim: nil, chain: [fromIssuer, ["name": "apicast", "configuration": [:]]])
        // JWT client authentication (RFC 7523): an HS256 assertion with the client secret, an RS256 one with a private key.
        let secretJWT: [String: Any] = ["name": "token_introspection", "configuration": [
            "auth_type": "client_secret_jwt", "client_id": "gw", "client_secret": "short-s3cret", "introspection_url": idp.baseURL + "/introspect",
            "client_jwt_assertion_audience": "https://idp.test/realms/demo", "client_jwt_assertion_expires_in": 30]]
        let keyPEM = try String(contentsOfFile: rsa.privatePath, encoding: .utf8)
        let keyJWT: [String: Any] = ["name": "token_introspection", "configuration": [
            "auth_type": "private_key_jwt", "client_id": "gw-key", "introspection_url": idp.baseURL + "/introspect",
            "certificate_type": "embedded", "certificate": "data:application/x-x509-ca-cert;name=rsa.pem;base64," + Data(keyPEM.utf8).base64EncodedString()]]
        let secretIntrospected = service(7, host: "secret-jwt.test", claim: nil, chain: [secretJWT, ["name": "apicast", "configuration": [:]]])
        let keyIntrospected = service(8, host: "key-jwt.test", claim: nil, chain: [keyJWT, ["name": "apicast", "configuration": [:]]])
        var issuerEntry = entry
        issuerEntry["config"] = ["id_token_signing_alg_values_supported": ["RS256", "ES256"], "introspection_endpoint": idp.baseURL + "/realm-introspect"]
        let document = try JSONSerialization.data(withJSONObject: ["services": [service(1, host: "localhost", claim: nil), service(2, host: "claim.test", claim: "client_id"),
                                                                                claimCheck, roleCheck, introspected, issuerIntrospected, secretIntrospected,
                                                                                keyIntrospected],
                                                                   "oidc": [entry, entry, entry, entry, entry, issuerEntry, entry, entry]])
        let h = try GatewayHarness(services: [], rawDocument: String(decoding: document, as: UTF8.self))
        defer { h.stop() }
        try await h.waitReady()
        let now = Int(Date().timeIntervalSince1970)
        let good: [String: Any] = ["iss": Self.issuer, "sub": "user-1", "aud": "account", "exp": now + 300, "iat": now, "azp": "appid", "typ": "Bearer"]
        func call(_ token: String?, host: String = "localhost") throws -> Int {
            try h.call("/", host: host, headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []).status
        }

        #expect(try call(Self.token(rsa, kid: "rsa1", claims: good)) == 200)
        let authrep = try #require(backend.requests.last)
        #expect(authrep.path == "/transactions/oauth_authrep.xml")
        #expect(authrep.query["app_id"] == "appid")
        #expect(!authrep.uri.contains("eyJ"))  // the token itself is not sent to metering
        #expect(try call(Self.token(ec, kid: "ec1", claims: good)) == 200)
        #expect(try call(nil) == 401)
        var wrongIssuer = good
        wrongIssuer["iss"] = "https://evil.test"
        #expect(try call(Self.token(rsa, kid: "rsa1", claims: wrongIssuer)) == 403)
        #expect(try call(Self.token(rsa, kid: "unknown", claims: good)) == 403)
        #expect(try call(Self.token(ec, kid: "rsa1", alg: "ES256", claims: good)) == 403)  // the key says RS256
        #expect(try call(Self.token(other, kid: "rsa1", claims: good)) == 403)  // signed by another key
        var expired = good
        expired["exp"] = now - 10
        #expect(try call(Self.token(rsa, kid: "rsa1", claims: expired)) == 403)
        var withClientID = good
        withClientID["client_id"] = "from-claim"
        #expect(try call(Self.token(rsa, kid: "rsa1", claims: withClientID), host: "claim.test") == 200)
        #expect(backend.requests.last?.query["app_id"] == "from-claim")

        // jwt_claim_check reads the verified token's claims.
        var user = good
        user["role"] = "user"
        var admin = good
        admin["role"] = "admin"
        let blocked = try h.call("/admin", host: "claims.test", headers: [("Authorization", "Bearer \(try Self.token(rsa, kid: "rsa1", claims: user))")])
        #expect(blocked.status == 403 && blocked.body == "admins only")
        #expect(try h.call("/other", host: "claims.test", headers: [("Authorization", "Bearer \(try Self.token(rsa, kid: "rsa1", claims: user))")]).status == 200)
        #expect(try h.call("/admin", host: "claims.test", headers: [("Authorization", "Bearer \(try Self.token(rsa, kid: "rsa1", claims: admin))")]).status == 200)
        var tenant = good
        tenant["tenant"] = ["id": "t1"]
        let tenantToken = try Self.token(rsa, kid: "rsa1", claims: tenant)
        #expect(try h.call("/tenant/x", host: "claims.test", headers: [("Authorization", "Bearer \(tenantToken)"), ("X-Tenant", "t1")]).status == 200)
        #expect(try h.call("/tenant/x", host: "claims.test", headers: [("Authorization", "Bearer \(tenantToken)"), ("X-Tenant", "t2")]).status == 403)

        // keycloak_role_check (whitelist): the realm role and the client's role are both needed; paths no scope
        // covers are denied too, with the product's authentication-failed error.
        var reader = good
        reader["realm_access"] = ["roles": ["reader"]]
        var shopper = reader
        shopper["resource_access"] = ["shop": ["roles": ["viewer"]], "other": ["roles": ["admin"]]]
        func roleCall(_ path: String, _ claims: [String: Any]) throws -> HTTP.Reply {
            try h.call(path, host: "roles.test", headers: [("Authorization", "Bearer \(try Self.token(rsa, kid: "rsa1", claims: claims))")])
        }
        #expect(try roleCall("/books", shopper).status == 200)
        let missingClientRole = try roleCall("/books", reader)
        #expect(missingClientRole.status == 403 && missingClientRole.body == "Authentication failed")
        #expect(try roleCall("/books", good).status == 403)
        #expect(try roleCall("/music", shopper).status == 403, "a whitelist denies paths no scope covers")
        let storeToken = try Self.token(rsa, kid: "rsa1", claims: shopper)
        #expect(try h.call("/stores", host: "roles.test", headers: [("Authorization", "Bearer \(storeToken)"), ("X-Store", "shop")]).status == 200)
        #expect(try h.call("/stores", host: "roles.test", headers: [("Authorization", "Bearer \(storeToken)"), ("X-Store", "other")]).status == 403)

        // token_introspection: the identity provider decides; active answers are cached when the policy says so.
        let live = try Self.token(rsa, kid: "rsa1", claims: good)
        var revokedClaims = good
        revokedClaims["jti"] = "revoked-one"
        let revoked = try Self.token(rsa, kid: "rsa1", claims: revokedClaims)
        idp.setHandler { r in
            let form = String(decoding: r.body, as: UTF8.self)
            let active = form.contains("token=\(live)&") && r.header("Authorization") != nil
            return .init(status: 200, headers: [("Content-Type", "application/json")], body: active ? #"{"active":true,"exp":\#(now + 300)}"# : #"{"active":false}"#)
        }
        func introspectCall(_ token: String, host: String = "introspect.test") throws -> HTTP.Reply {
            try h.call("/", host: host, headers: [("Authorization", "Bearer \(token)")])
        }
        #expect(try introspectCall(live).status == 200)
        let asked = try #require(idp.requests.first)
        #expect(asked.method == "POST" && asked.path == "/introspect")
        #expect(asked.header("Authorization") == "Basic " + Data("gw:s3cret".utf8).base64EncodedString())
        #expect(String(decoding: asked.body, as: UTF8.self) == "token=\(live)&token_type_hint=access_token")
        #expect(try introspectCall(live).status == 200)
        #expect(idp.requests.count == 1, "the active answer was cached")
        let refused = try introspectCall(revoked)
        #expect(refused.status == 403 && refused.body == "Authentication failed", "a revoked (inactive) token is refused although its signature is good")
        #expect(try h.call("/", host: "introspect.test").status == 401, "no token: credentials missing")
        // From the issuer endpoint: client `client`/`secret` and the issuer's introspection_endpoint; not cached.
        idp.clearRequests()
        #expect(try introspectCall(live, host: "issuer.test").status == 200)
        #expect(try introspectCall(live, host: "issuer.test").status == 200)
        #expect(idp.requests.map(\.path) == ["/realm-introspect", "/realm-introspect"])
        #expect(idp.requests.first?.header("Authorization") == "Basic " + Data("client:secret".utf8).base64EncodedString())
        // The identity provider failing is a refusal, not a pass.
        idp.setHandler { _ in .init(status: 500, body: "down") }
        #expect(try introspectCall(live, host: "issuer.test").status == 403)

        // client_secret_jwt and private_key_jwt: no Basic header; client_id and a signed assertion in the form.
        idp.clearRequests()
        idp.setHandler { r in
            let form = String(decoding: r.body, as: UTF8.self)
            let active = form.contains("token=\(live)&") && form.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer")
            return .init(status: 200, headers: [("Content-Type", "application/json")], body: active ? #"{"active":true}"# : #"{"active":false}"#)
        }
        #expect(try introspectCall(live, host: "secret-jwt.test").status == 200)
        #expect(try introspectCall(live, host: "key-jwt.test").status == 200)
        #expect(idp.requests.count == 2 && idp.requests.allSatisfy { $0.header("Authorization") == nil })
        func assertion(_ request: StubHTTPServer.Received) throws -> (header: [String: Any], claims: [String: Any], signed: String, signature: Data) {
            let form = String(decoding: request.body, as: UTF8.self)
            let value = try #require(form.split(separator: "&").first { $0.hasPrefix("client_assertion=") }?.dropFirst("client_assertion=".count))
            let parts = value.split(separator: ".").map(String.init)
            func decode(_ part: String) throws -> Data {
                var b64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                while b64.count % 4 != 0 { b64 += "=" }
                return try #require(Data(base64Encoded: b64))
            }
            let header = try #require(try JSONSerialization.jsonObject(with: decode(parts[0])) as? [String: Any])
            let claims = try #require(try JSONSerialization.jsonObject(with: decode(parts[1])) as? [String: Any])
            return (header, claims, parts[0] + "." + parts[1], try decode(parts[2]))
        }
        try #require(idp.requests.count == 2)
        let hs = try assertion(idp.requests[0])
        #expect(hs.header["alg"] as? String == "HS256")
        #expect(hs.claims["iss"] as? String == "gw" && hs.claims["sub"] as? String == "gw" && hs.claims["jti"] as? String != nil)
        #expect(hs.claims["aud"] as? String == "https://idp.test/realms/demo")
        #expect((hs.claims["exp"] as? Double ?? 0) - (hs.claims["iat"] as? Double ?? 0) == 30)
        let mac = try Self.openssl(["dgst", "-sha256", "-mac", "HMAC", "-macopt", "key:short-s3cret", "-binary"], input: Data(hs.signed.utf8))
        #expect(mac == hs.signature, "signed with the client secret")
        let rs = try assertion(idp.requests[1])
        #expect(rs.header["alg"] as? String == "RS256" && rs.claims["iss"] as? String == "gw-key")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("portico-assertion-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try rsa.publicPEM.write(toFile: scratch + "/pub.pem", atomically: true, encoding: .utf8)
        try rs.signature.write(to: URL(fileURLWithPath: scratch + "/sig"))
        let verified = String(decoding: try Self.openssl(["dgst", "-sha256", "-verify", scratch + "/pub.pem", "-signature", scratch + "/sig"],
                                                         input: Data(rs.signed.utf8)), as: UTF8.self)
        #expect(verified.contains("Verified OK"), "signed with the configured private key")
    }
}
