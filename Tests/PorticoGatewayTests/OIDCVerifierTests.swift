import Foundation
import PorticoCore
import Testing
@testable import PorticoGateway

/// Key loading and claim checks, on a key and token made with openssl.
@Suite struct OIDCVerifierTests {
    static func sh(_ script: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func b64(_ json: String) -> String {
        Data(json.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test func verifiesSignatureAndClaims() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oidc-unit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pem = try Self.sh("cd \(dir) && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out k.pem && openssl pkey -in k.pem -pubout")
        func token(_ claims: String, kid: String = "k") throws -> String {
            let input = Self.b64(#"{"alg":"RS256","kid":"\#(kid)"}"#) + "." + Self.b64(claims)
            let sig = try Self.sh("cd \(dir) && printf '%s' '\(input)' | openssl dgst -sha256 -sign k.pem | base64 -w0 | tr '+/' '-_' | tr -d '='")
            return input + "." + sig
        }
        let entry: JSONValue = .object(["issuer": "https://idp", "config": .object(["id_token_signing_alg_values_supported": ["RS256"]]),
                                        "keys": .object(["k": .object(["pem": .string(pem), "alg": "RS256"])])])
        let v = try await OIDCVerifier.make(entry: entry)
        let ok = try token(#"{"iss":"https://idp","sub":"s","aud":"a","exp":2000,"azp":"app"}"#)
        #expect(await v.verify(ok, clientIDClaim: "azp", nowSeconds: 1000)?.clientID == "app")
        #expect(await v.verify(ok, clientIDClaim: "azp", nowSeconds: 2000) == nil)  // expired
        #expect(await v.verify(ok + "x", clientIDClaim: "azp", nowSeconds: 1000) == nil)  // signature
        #expect(await v.verify(try token(#"{"iss":"https://idp","aud":"a","exp":2000,"azp":"app"}"#), clientIDClaim: "azp", nowSeconds: 1000) == nil)  // no sub
        #expect(await v.verify(try token(#"{"iss":"https://idp","sub":"s","aud":"a","exp":2000,"azp":"app","nbf":1500}"#), clientIDClaim: "azp", nowSeconds: 1000) == nil)
        #expect(await v.verify(try token(#"{"iss":"https://idp","sub":"s","aud":"a","exp":2000,"cid":["x","y"]}"#), clientIDClaim: "cid", nowSeconds: 1000)?.clientID == "x")
        #expect(await v.verify(try token(#"{"iss":"https://idp","sub":"s","aud":"a","exp":2000,"azp":"app"}"#, kid: "nope"), clientIDClaim: "azp", nowSeconds: 1000) == nil)
        #expect(await v.verify("not.a.jwt", clientIDClaim: "azp", nowSeconds: 1000) == nil)
    }
}
