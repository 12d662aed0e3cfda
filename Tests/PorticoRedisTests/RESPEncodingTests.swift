import NIOCore
import PorticoRedis
import Testing

/// The command encoder that writes into the socket buffer must produce exactly the bytes of the array encoder
/// (which the decoder verifier and the embedded store's log were built against).
struct RESPEncodingTests {
    @Test func bufferEncodingMatchesArrayEncodingOnRandomCommands() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [Character] = ["a", "Z", "0", " ", "\r", "\n", "$", "*", "é", "日", "🙂", "\u{0}"]
        for round in 0..<2_000 {
            let count = Int.random(in: 1...(round % 50 == 0 ? 300 : 6), using: &generator)
            let parts = (0..<count).map { _ -> String in
                let length = Int.random(in: 0...(Bool.random(using: &generator) ? 12 : 1_200), using: &generator)
                return String((0..<length).map { _ in alphabet.randomElement(using: &generator)! })
            }
            var expected: [UInt8] = []
            RESPEncoder.encodeCommand(parts, into: &expected)
            var buffer = ByteBuffer()
            RESPEncoder.encodeCommand(parts, into: &buffer)
            #expect(Array(buffer.readableBytesView) == expected, "command of \(count) parts")
        }
    }

    @Test func lengthsAtDigitBoundaries() {
        for length in [0, 1, 9, 10, 11, 99, 100, 101, 999, 1_000, 65_536] {
            let part = String(repeating: "x", count: length)
            var buffer = ByteBuffer()
            RESPEncoder.encodeCommand(["SET", part], into: &buffer)
            #expect(buffer.readString(length: buffer.readableBytes) == "*2\r\n$3\r\nSET\r\n$\(length)\r\n\(part)\r\n")
        }
    }
}
