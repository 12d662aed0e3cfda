import PorticoCore
import Testing

@Suite struct JSONParserTests {
    @Test func parsesDocumentsAndKeepsKeyOrder() throws {
        let v = try JSONParser.parse(#"{"z":1,"a":[true,false,null,-2.5e3,"x\u00e9\n"],"m":{}}"#)
        #expect(v.objectValue?.keys == ["z", "a", "m"])
        #expect(v["a"] == .array([.bool(true), .bool(false), .null, .double(-2500), .string("xé\n")]))
        #expect(v.serializedString == #"{"z":1,"a":[true,false,null,-2500.0,"xé\n"],"m":{}}"#)
    }

    @Test func surrogatePairsDecode() throws {
        #expect(try JSONParser.parse(#""\ud83d\ude80""#) == .string("🚀"))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"\\x\"", "\"\\ud800\"", "{}x", "\"\u{01}\"", "-", "[1 2]"])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(text) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(deep) }
    }

    /// Property: any value serializes to text that parses back to the same value.
    @Test func serializationRoundTrips() throws {
        var rng = SplitMix(seed: 42)
        for _ in 0..<2_000 {
            let value = randomValue(&rng, depth: 0)
            let text = value.serialized()
            #expect(try JSONParser.parse(text) == value)
        }
    }

    /// Fuzz: random bytes and mutated valid documents never crash the parser.
    @Test func randomInputNeverCrashes() {
        var rng = SplitMix(seed: 7)
        let seed = Array(#"{"a":[1,2,{"b":"c\u0041"}],"d":-0.5e-3,"e":null}"#.utf8)
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = seed
                for _ in 0..<3 { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            _ = try? JSONParser.parse(bytes)
        }
    }

    func randomValue(_ rng: inout SplitMix, depth: Int) -> JSONValue {
        switch rng.next() % (depth > 3 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(rng.next() % 2 == 0)
        case 2: return .int(Int64(bitPattern: rng.next()))
        case 3: return .double(Double(Int64(bitPattern: rng.next() % 1_000_000)) / 7)
        case 4: return .string(randomString(&rng))
        case 5: return .array((0..<Int(rng.next() % 4)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var o = JSONObject()
            for _ in 0..<Int(rng.next() % 4) { o[randomString(&rng)] = randomValue(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    func randomString(_ rng: inout SplitMix) -> String {
        let alphabet = Array("ab\"\\/\n\t\u{0}\u{1f}é🚀 z")
        return String((0..<Int(rng.next() % 8)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }
}

/// A small deterministic generator so property tests are reproducible.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
