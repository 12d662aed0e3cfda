import PorticoRedis
import Testing

/// Commands are encoded on every request (to Redis, and into the embedded store's log): the encoder's bytes are
/// held to RESP's definition, written out the plain way, on random commands.
struct RESPEncodingTests {
    static func reference(_ parts: [String]) -> [UInt8] {
        var text = "*\(parts.count)\r\n"
        for part in parts { text += "$\(part.utf8.count)\r\n\(part)\r\n" }
        return Array(text.utf8)
    }

    @Test func commandsEncodeAsRESPDefinesThemOnRandomInput() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Character] = ["a", "Z", "0", " ", "\r", "\n", "$", "*", "é", "日", "🙂", "\u{0}"]
        for round in 0..<2_000 {
            let count = Int.random(in: 0...(round % 50 == 0 ? 300 : 12), using: &generator)
            let parts = (0..<count).map { _ -> String in
                let length = Int.random(in: 0...(Bool.random(using: &generator) ? 14 : 1_200), using: &generator)
                return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            }
            var encoded: [UInt8] = []
            RESPEncoder.encodeCommand(parts, into: &encoded)
            #expect(encoded == Self.reference(parts), "command of \(count) parts")
        }
    }

    @Test func lengthsAtDigitBoundaries() {
        for length in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, 1_001, 65_536] {
            let part = String(repeating: "x", count: length)
            var encoded: [UInt8] = []
            RESPEncoder.encodeCommand(["SET", part], into: &encoded)
            #expect(encoded == Self.reference(["SET", part]))
        }
    }
}
