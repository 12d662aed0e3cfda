@testable import PorticoAdmin
import PorticoCore
import Testing

/// Property and fuzz tests of everything that reads request input: paths, query strings, forms, JSON bodies.
@Suite struct RequestParsingTests {
    @Test func pathSegmentsDecodeAfterSplitting() {
        let t = RequestTarget(rawPath: "//admin/api//accounts/1/applications/2/keys/a%2Fb%25c%2Bd%3Fe.json?access_token=x&y=1")
        #expect(t.segments == ["admin", "api", "accounts", "1", "applications", "2", "keys", "a/b%c+d?e"])
        #expect(t.format == "json")
        #expect(t.query == "access_token=x&y=1")
    }

    @Test func railsFormsNest() throws {
        let p = try Parameters.parse(query: "", body: Array("a%5B%5D=1&a%5B%5D=2&b%5Bc%5D=3&d=x+y".utf8), contentType: "application/x-www-form-urlencoded")
        #expect(p["a"] == .array(["1", "2"]))
        #expect(p["b"] == .object(["c": "3"]))
        #expect(p.string("d") == "x y")
    }

    @Test func queryWinsOverBody() throws {
        let p = try Parameters.parse(query: "name=q", body: Array(#"{"name":"b","other":1}"#.utf8), contentType: "application/json")
        #expect(p.string("name") == "q" && p.int("other") == 1)
    }

    /// Property: any printable segment survives percent-encoding and routing unchanged.
    @Test func arbitrarySegmentsRoundTrip() {
        var rng = SystemRandomNumberGenerator()
        let printable = (0x21...0x7E).map { Character(Unicode.Scalar(UInt8($0))) }
        for _ in 0..<2_000 {
            let value = String((0..<Int.random(in: 1...40, using: &rng)).map { _ in printable.randomElement(using: &rng)! })
            var encoded = ""
            for byte in value.utf8 {
                let c = Character(Unicode.Scalar(byte))
                encoded += c.isLetter || c.isNumber ? String(c) : "%" + String(byte, radix: 16, uppercase: true)
            }
            let t = RequestTarget(rawPath: "/admin/api/keys/\(encoded)")
            #expect(t.segments.last == value)
        }
    }

    /// Fuzz: random paths, queries and bodies of every content type never crash the parsers.
    @Test func randomInputNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("/%.?&=[]{}\"\\:+ #abc01\u{0}é".utf8)
        for _ in 0..<10_000 {
            let bytes = (0..<Int.random(in: 0...60, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            let text = String(decoding: bytes, as: UTF8.self)
            _ = RequestTarget(rawPath: text)
            for type in ["application/json", "application/x-www-form-urlencoded", nil, "text/plain", "multipart/form-data"] as [String?] {
                _ = try? Parameters.parse(query: text, body: bytes, contentType: type)
            }
            _ = Base64.decode(text)
        }
    }

    @Test func hostsClassify() {
        let s = AdminSettings()
        #expect(s.classify(host: "provider-admin.localhost:3000") == .tenantAdmin("provider"))
        #expect(s.classify(host: "provider.localhost") == .developerPortal("provider"))
        #expect(s.classify(host: "master.localhost") == .master)
        #expect(s.classify(host: "127.0.0.1:3000") == .neutral)
        #expect(s.classify(host: "localhost") == .neutral)
        #expect(s.classify(host: nil) == .neutral)
    }

    @Test func secretsCompareInConstantTimeShape() {
        #expect(constantTimeEquals("abc", "abc"))
        #expect(!constantTimeEquals("abc", "abd"))
        #expect(!constantTimeEquals("abc", "abcd"))
        #expect(Secrets.tokenDigest("x").count == 96)
    }

    @Test func passwordsHashSlowlyAndVerify() throws {
        let digest = try PasswordHasher.hash("123456")
        #expect(digest.hasPrefix("pbkdf2-sha512$210000$"))
        #expect(PasswordHasher.verify("123456", digest: digest))
        #expect(!PasswordHasher.verify("1234567", digest: digest))
        #expect(!digest.contains("123456$"))
    }

    @Test func endpointsGetExplicitPorts() {
        #expect(EndpointNormalization.withExplicitPort("http://www.httpbin.org") == "http://www.httpbin.org:80")
        #expect(EndpointNormalization.withExplicitPort("https://a.b/c?d") == "https://a.b:443/c?d")
        #expect(EndpointNormalization.withExplicitPort("http://a.b:8080/x") == "http://a.b:8080/x")
        #expect(!EndpointNormalization.isValidURL("ftp://x"))
        #expect(!EndpointNormalization.isValidURL("not a url"))
    }
}
