import PorticoCore
import Testing
@testable import PorticoGateway

/// The parsers that read network input (request targets, query strings, form bodies, configuration
/// documents from a portal) never crash on arbitrary bytes, and round-trip what they should.
@Suite struct ParserFuzzTests {
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        mutating func bytes(max: Int) -> [UInt8] {
            let alphabet = Array("/%?&=+{}$.:;@!~-_aZ09 \u{7f}[]()*|\\^".utf8) + [0, 0x80, 0xff, 0xc3, 0xa9]
            return (0..<Int(next() % UInt64(max + 1))).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
        }
        mutating func string(max: Int) -> String { String(decoding: bytes(max: max), as: UTF8.self) }
    }

    @Test func requestParsersSurviveArbitraryInput() {
        var g = Generator(state: 0x9E37_79B9_7F4A_7C15)
        for _ in 0..<20_000 {
            let raw = g.string(max: 64)
            _ = RequestArguments(encoded: Array(raw.utf8)).pairs.count
            if let subject = RequestPath.subject(raw[...]) {
                #expect(subject.hasPrefix("/"))
                #expect(!subject.contains(" ") && !subject.contains("?"))
            }
            let pattern = PathPattern(g.string(max: 24))
            _ = pattern.matches(raw)
            _ = UpstreamURL("http://" + raw)
            _ = try? LiquidTemplate(raw)
        }
    }

    /// A path taken as its own matching subject (the fast way) is exactly what normalising and escaping it gives.
    @Test func pathsTakenAsTheirOwnSubjectNormaliseToThemselves() {
        var g = Generator(state: 0xC0FFEE)
        var ownSubjects = 0
        for _ in 0..<50_000 {
            let raw = "/" + g.string(max: 24)
            for path in [raw, String(raw.dropFirst())] {
                #expect(RequestPath.subject(path) == RequestPath.subject(path[...]), "\(Array(path.utf8))")
                if RequestPath.isOwnSubject(path.utf8) { ownSubjects += 1 }
            }
        }
        #expect(ownSubjects > 1_000)
        #expect(RequestPath.isOwnSubject("/v1/items/42".utf8))
        #expect(!RequestPath.isOwnSubject("/v1/./items".utf8) && !RequestPath.isOwnSubject("/v1//items".utf8) && !RequestPath.isOwnSubject("".utf8))
    }

    /// The token test (bit masks) is RFC 9110's `tchar` list, byte for byte.
    @Test func tokenCharactersAreRFC9110s() {
        let tchar = Set(Array("!#$%&'*+-.^_`|~0123456789".utf8) + Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8))
        for byte in UInt8.min...UInt8.max { #expect(HTTP1Syntax.isTokenCharacter(byte) == tchar.contains(byte), "\(byte)") }
        #expect(HTTP1Syntax.isValidFieldName("X-Api_Key.1") && !HTTP1Syntax.isValidFieldName("") && !HTTP1Syntax.isValidFieldName("a b"))
        #expect(HTTP1Syntax.isValidFieldValue("a\tb é") && !HTTP1Syntax.isValidFieldValue("a\rb") && !HTTP1Syntax.isValidFieldValue("a\0"))
    }

    /// Header lines split in place (name, trimmed value, refusals) exactly as a plain reading of RFC 9112 §5 does.
    @Test func fieldLinesSplitAsTheRFCReads() {
        func reference(_ line: [UInt8], _ values: HTTP1Syntax.ValueBytes) -> (name: [UInt8], value: [UInt8])? {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
            let name = Array(line[..<colon])
            guard name.allSatisfy({ Set(Array("!#$%&'*+-.^_`|~".utf8)).contains($0) || ($0 >= 48 && $0 <= 57) || ($0 | 32 >= 97 && $0 | 32 <= 122) }) else { return nil }
            var value = Array(line[(colon + 1)...])
            while let first = value.first, first == 32 || first == 9 { value.removeFirst() }
            while let last = value.last, last == 32 || last == 9 { value.removeLast() }
            let allowed: (UInt8) -> Bool = values == .request ? { $0 >= 32 && $0 != 127 || $0 == 9 } : { $0 != 0 && $0 != 10 && $0 != 13 }
            return value.allSatisfy(allowed) ? (name, value) : nil
        }
        var g = Generator(state: 0xFEED)
        let alphabet = Array("aZ-_:: \t\t\r~@,;".utf8) + [0, 10, 0x7f, 0x80, 0xe9, 1, 31]
        var accepted = 0
        for _ in 0..<50_000 {
            var line = (0..<Int(g.next() % 16)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
            // Half the lines are shaped as fields (a name of token bytes, a colon), so that many are accepted.
            if g.next() % 2 == 0 { line = Array("X-a_~9".utf8.prefix(Int(g.next() % 7))) + [UInt8(ascii: ":")] + line }
            for values in [HTTP1Syntax.ValueBytes.request, .response] {
                let split = line.withUnsafeBytes { raw -> (name: [UInt8], value: [UInt8])? in
                    guard case .success(let (name, value)) = HTTP1Syntax.splitField(raw, 0..<raw.count, values: values) else { return nil }
                    return (Array(name), Array(value))
                }
                let expected = reference(line, values)
                #expect(split?.name == expected?.name && split?.value == expected?.value, "\(line)")
                if split != nil { accepted += 1 }
            }
        }
        #expect(accepted > 5_000)
    }

    @Test func argumentsRoundTrip() {
        var g = Generator(state: 42)
        for _ in 0..<5_000 {
            let name = g.string(max: 12), value = g.string(max: 20)
            let encoded = RequestArguments.encode(name) + "=" + RequestArguments.encode(value)
            let parsed = RequestArguments(encoded: Array(encoded.utf8))
            if !name.isEmpty || !value.isEmpty {
                #expect(parsed.pairs.first?.name == name)
                #expect(parsed.pairs.first?.value == value)
            }
        }
    }

    @Test func configurationParserSurvivesMutatedDocuments() {
        let base = Array(#"{"services":[{"id":1,"backend_version":"2","proxy":{"hosts":["a"],"api_backend":"http://u:1/p","proxy_rules":[{"pattern":"/{x}$","metric_system_name":"m","delta":"2","querystring_parameters":{"a":"{b}"}}],"policy_chain":[{"name":"routing","configuration":{"rules":[{"url":"http://x","condition":{"operations":[{"match":"path","op":"matches","value":"^/a"}]}}]}},{"name":"apicast"}]}}]}"#.utf8)
        var g = Generator(state: 7)
        for _ in 0..<3_000 {
            var doc = base
            for _ in 0..<(1 + Int(g.next() % 4)) {
                let i = Int(g.next() % UInt64(doc.count))
                doc[i] = g.bytes(max: 1).first ?? UInt8(ascii: "x")
            }
            if let json = try? JSONParser.parse(doc) { _ = try? GatewayConfiguration.parse(json) }
        }
    }
}
