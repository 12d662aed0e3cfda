import NIOCore
import Testing
@testable import PorticoGateway

/// `HTTP1RequestReader`, which reads the gateway's HTTP/1 client connections: requests and their bodies however the
/// bytes arrive, and refusals wherever two HTTP readers could disagree about where a request ends.
@Suite struct RequestReaderTests {
    struct Read: Equatable {
        var line: String
        var fields: [String]
        var keepAlive: Bool
        var body: String
        var ended: Bool
    }

    /// Feeds `bytes` in pieces of the given sizes (cycled) and collects the requests; a refusal ends the reading.
    static func read(_ bytes: [UInt8], pieces: [Int] = [Int.max], headLimit: Int = 80 * 1024) -> (requests: [Read], refusal: Int?) {
        var reader = HTTP1RequestReader(headLimit: headLimit)
        var requests: [Read] = []
        var offset = 0, piece = 0
        while offset < bytes.count {
            let size = min(max(1, pieces[piece % pieces.count]), bytes.count - offset)
            var buffer = ByteBuffer(bytes: bytes[offset..<(offset + size)])
            reader.feed(&buffer)
            do {
                while let event = try reader.next() {
                    switch event {
                    case .head(let head):
                        requests.append(Read(line: "\(head.method) \(head.target) HTTP/\(head.version.major).\(head.version.minor)",
                                             fields: head.fields.map { "\($0.0): \($0.1)" }, keepAlive: head.keepAlive, body: "", ended: false))
                    case .body(let body): requests[requests.count - 1].body += String(buffer: body)
                    case .end: requests[requests.count - 1].ended = true
                    }
                }
            } catch {
                return (requests, error.status)
            }
            offset += size
            piece += 1
        }
        return (requests, nil)
    }

    static let pipelined = "\r\nGET /a?x=1 HTTP/1.1\r\nHost: api.test\r\nX-Key:  spaced value \t\r\n\r\n"
        + "POST /b HTTP/1.1\r\nHost: api.test\r\nContent-Length: 5\r\n\r\nhello"
        + "PUT /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
        + "GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        + "GET /e HTTP/1.1\nHost: bare-lf.test\nConnection: close\n\n"

    static let expected = [
        Read(line: "GET /a?x=1 HTTP/1.1", fields: ["Host: api.test", "X-Key: spaced value"], keepAlive: true, body: "", ended: true),
        Read(line: "POST /b HTTP/1.1", fields: ["Host: api.test", "Content-Length: 5"], keepAlive: true, body: "hello", ended: true),
        Read(line: "PUT /c HTTP/1.1", fields: ["Transfer-Encoding: gzip, chunked"], keepAlive: true, body: "abcde", ended: true),
        Read(line: "GET /d HTTP/1.0", fields: ["Connection: keep-alive"], keepAlive: true, body: "", ended: true),
        Read(line: "GET /e HTTP/1.1", fields: ["Host: bare-lf.test", "Connection: close"], keepAlive: false, body: "", ended: true),
    ]

    @Test func readsPipelinedRequestsWithTheirBodies() {
        let (requests, refusal) = Self.read(Array(Self.pipelined.utf8))
        #expect(refusal == nil)
        #expect(requests == Self.expected)
    }

    @Test func theSameRequestsComeOutHoweverTheBytesAreSplit() {
        let bytes = Array(Self.pipelined.utf8)
        var g = ParserFuzzTests.Generator(state: 99)
        for _ in 0..<300 {
            let pieces = (0..<5).map { _ in Int(g.next() % 40) + 1 }
            let (requests, refusal) = Self.read(bytes, pieces: pieces)
            #expect(refusal == nil && requests == Self.expected)
        }
        #expect(Self.read(bytes, pieces: [1]).requests == Self.expected)
    }

    @Test(arguments: [
        // Where a body ends would be ambiguous (request smuggling).
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc", 400),
        ("GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX-Ctl: a\u{1}b\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400),
        // Not HTTP/1.x.
        ("GET / HTTP/2.0\r\n\r\n", 400),
        ("GET /a b HTTP/1.1\r\n\r\n", 400),
        ("GET  / HTTP/1.1\r\n\r\n", 400),
        ("G@T / HTTP/1.1\r\n\r\n", 400),
        ("GET /\u{7f} HTTP/1.1\r\n\r\n", 400),
        ("<html>\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400),
    ])
    func ambiguousOrMalformedRequestsAreRefused(_ text: String, _ status: Int) {
        #expect(Self.read(Array(text.utf8)).refusal == status)
    }

    @Test func aHeadOverTheLimitIs431WhetherWholeOrEndless() {
        let big = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "b", count: 2_000) + "\r\n\r\n"
        #expect(Self.read(Array(big.utf8), headLimit: 1_000).refusal == 431)
        let endless = "GET / HTTP/1.1\r\n" + String(repeating: "X-A: b\r\n", count: 500)
        #expect(Self.read(Array(endless.utf8), pieces: [100], headLimit: 1_000).refusal == 431)
        #expect(Self.read(Array(big.utf8), headLimit: 4_000).refusal == nil)
    }

    @Test func randomAndMutatedInputNeverCrashes() {
        var g = ParserFuzzTests.Generator(state: 0xC0FFEE)
        let valid = Array(Self.pipelined.utf8)
        let alphabet = Array("GETPOSTH/1.0 \r\n:;,-chunkedContent-LengthTransfer-EncodingConnectionclose0123456789abcdef\t".utf8) + [0, 0x7f, 0xff]
        for round in 0..<2_000 {
            var bytes = valid
            if round % 2 == 0 {
                for _ in 0..<(1 + Int(g.next() % 6)) {
                    bytes[Int(g.next() % UInt64(bytes.count))] = alphabet[Int(g.next() % UInt64(alphabet.count))]
                }
            } else {
                bytes = (0..<Int(g.next() % 300)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
            }
            let (requests, refusal) = Self.read(bytes, pieces: [Int(g.next() % 17) + 1, Int(g.next() % 23) + 1], headLimit: 200)
            #expect(refusal == nil || refusal == 400 || refusal == 431)
            for request in requests {
                // Whatever was accepted is well-formed: no spaces or controls in the target, token methods.
                let parts = request.line.split(separator: " ")
                #expect(parts.count == 3)
                #expect(!request.line.utf8.contains { $0 < 32 && $0 != 9 })
            }
        }
    }
}
