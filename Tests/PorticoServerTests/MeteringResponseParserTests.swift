import NIOCore
import Testing
@testable import PorticoServer

/// The metering client's response reader: framing by Content-Length, chunked and connection close, pipelined
/// responses in order, 1xx skipped, `3scale-*` headers kept; the same answers however the bytes are split across
/// reads; malformed input is an error, never a crash or a made-up answer.
@Suite struct MeteringResponseParserTests {
    typealias Response = MeteringResponseParser.Response

    /// Feeds `bytes` in pieces of the given sizes (cycled) and collects every response until the bytes run out.
    static func parse(_ bytes: [UInt8], pieces: [Int] = [Int.max]) throws(MeteringResponseParser.Malformed) -> [Response] {
        var parser = MeteringResponseParser()
        var responses: [Response] = []
        var offset = 0, piece = 0
        while offset < bytes.count {
            let size = min(max(1, pieces[piece % pieces.count]), bytes.count - offset)
            var buffer = ByteBuffer(bytes: bytes[offset..<(offset + size)])
            parser.feed(&buffer)
            while let response = try parser.next() { responses.append(response) }
            offset += size
            piece += 1
        }
        return responses
    }

    static let authorized = "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.3scale-v2.0+xml\r\n3scale-limit-remaining: 7\r\n"
        + "3scale-Limit-Reset: 30\r\nContent-Length: 0\r\n\r\n"
    static let limited = "HTTP/1.1 409 Conflict\r\n3scale-rejection-reason: limits_exceeded\r\nContent-Length: 12\r\n\r\n<status/>\r\n\n"
    static let chunked = "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n3scale-rejection-reason: user_key_invalid\r\n\r\n"
        + "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"

    @Test func readsPipelinedResponsesWithTheirFramingAndThreescaleHeaders() throws {
        let bytes = Array((Self.authorized + Self.limited + Self.chunked + Self.authorized).utf8)
        let responses = try Self.parse(bytes)
        #expect(responses.map(\.status) == [200, 409, 403, 200])
        #expect(responses.allSatisfy { $0.keepAlive })
        #expect(responses[0].header("3scale-limit-remaining") == "7")
        #expect(responses[0].header("3scale-limit-reset") == "30", "names compare without regard to case")
        #expect(responses[0].headers.count == 2, "only 3scale-* fields are kept")
        #expect(responses[1].header("3scale-rejection-reason") == "limits_exceeded")
        #expect(responses[2].header("3scale-rejection-reason") == "user_key_invalid")
    }

    @Test func theSameResponsesComeOutHoweverTheBytesAreSplit() throws {
        let bytes = Array((Self.authorized + Self.chunked + Self.limited + Self.chunked).utf8)
        let whole = try Self.parse(bytes)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let pieces = (0..<5).map { _ in Int.random(in: 1...40, using: &generator) }
            let split = try Self.parse(bytes, pieces: pieces)
            #expect(split == whole, "pieces \(pieces)")
        }
        let byteByByte = try Self.parse(bytes, pieces: [1])
        #expect(byteByByte == whole)
    }

    @Test func connectionAndVersionDecideWhetherTheConnectionStaysOpen() throws {
        let close = try Self.parse(Array("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(close.map(\.keepAlive) == [false])
        let old = try Self.parse(Array("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(old.map(\.keepAlive) == [false])
        let oldKept = try Self.parse(Array("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(oldKept.map(\.keepAlive) == [true])
        // No length: the body runs to the close, and whatever follows is body, not another response.
        let toClose = try Self.parse(Array("HTTP/1.1 200 OK\r\n\r\nbody HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(toClose.map(\.status) == [200])
        #expect(toClose.map(\.keepAlive) == [false])
        let gzipLast = try Self.parse(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxx".utf8))
        #expect(gzipLast.map(\.keepAlive) == [false])
    }

    @Test func interimAndBodilessResponsesAreFramedAsRFC9112Says() throws {
        let bytes = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n1\r\nx\r\n0\r\n\r\n"
        let responses = try Self.parse(Array(bytes.utf8))
        #expect(responses.map(\.status) == [204, 304, 200])
        #expect(responses.allSatisfy { $0.keepAlive })
    }

    @Test func bareLineFeedsAreAccepted() throws {
        let responses = try Self.parse(Array("HTTP/1.1 200 OK\n3scale-limit-remaining: 1\nContent-Length: 2\n\nokHTTP/1.1 200 OK\nContent-Length: 0\n\n".utf8))
        #expect(responses.map(\.status) == [200, 200])
        #expect(responses[0].header("3scale-limit-remaining") == "1")
    }

    @Test(arguments: [
        "HTTP/2 200\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "<html>not http</html>\r\n\r\n",
    ])
    func malformedResponsesAreErrors(_ text: String) {
        #expect(throws: MeteringResponseParser.Malformed.self) { try Self.parse(Array(text.utf8)) }
    }

    @Test func anEndlessHeadIsRefusedAtTheLimit() {
        let endless = Array("HTTP/1.1 200 OK\r\nX: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: MeteringResponseParser.headLimit + 10)
        #expect(throws: MeteringResponseParser.Malformed.self) { try Self.parse(endless, pieces: [4096]) }
        // Whole in one read, too.
        let long = Array("HTTP/1.1 200 OK\r\nX: ".utf8) + Array(repeating: UInt8(ascii: "a"), count: MeteringResponseParser.headLimit)
            + Array("\r\nContent-Length: 0\r\n\r\n".utf8)
        #expect(throws: MeteringResponseParser.Malformed.self) { try Self.parse(long) }
    }

    /// Random bytes, and valid responses with random bytes changed: every outcome is responses or an error.
    @Test func randomInputNeverCrashes() {
        var generator = SystemRandomNumberGenerator()
        let valid = Array((Self.authorized + Self.chunked + Self.limited).utf8)
        for round in 0..<2000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...200, using: &generator)).map { _ in
                    // Mostly the bytes HTTP is made of, so the parser gets past its first checks often.
                    Bool.random(using: &generator) ? UInt8.random(in: 0...255, using: &generator) : Array("HTTP/1.1 0123456789:\r\n ;abcf".utf8).randomElement(using: &generator)!
                }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            let pieces = [Int.random(in: 1...64, using: &generator)]
            if let responses = try? Self.parse(bytes, pieces: pieces) {
                #expect(responses.allSatisfy { (200...999).contains($0.status) })
            }
        }
    }
}
