import NIOCore
import Testing
@testable import PorticoGateway

/// The gateway's upstream wire format: responses read as streamed events by `HTTP1ResponseReader` (bodies as
/// slices, whatever their framing, however the bytes arrive) and request heads written by `UpstreamRequestHead`.
@Suite struct UpstreamWireTests {
    /// A response as the reader reported it: head, the body's bytes joined, and whether it ended.
    struct Read: Equatable {
        var status: Int
        var keepAlive: Bool
        var fields: [String]
        var body: String
        var ended: Bool
    }

    /// Feeds `bytes` in pieces of the given sizes (cycled), then the close when `close`; collects the responses.
    static func read(_ bytes: [UInt8], pieces: [Int] = [Int.max], close: Bool = false, headRequests: Set<Int> = [],
                     keeping: HTTP1ResponseReader.Fields = .all) throws(HTTP1ResponseReader.Malformed) -> [Read] {
        var reader = HTTP1ResponseReader(keeping: keeping)
        var responses: [Read] = []
        var offset = 0, piece = 0
        if headRequests.contains(0) { reader.expectAnswerToHEAD() }
        func take(_ event: HTTP1ResponseReader.Event) {
            switch event {
            case .head(let head):
                responses.append(Read(status: head.status, keepAlive: head.keepAlive, fields: head.decodedFields().map { "\($0.name): \($0.value)" },
                                      body: "", ended: false))
            case .body(let body):
                responses[responses.count - 1].body += String(buffer: body)
            case .end:
                responses[responses.count - 1].ended = true
                if headRequests.contains(responses.count) { reader.expectAnswerToHEAD() }
            }
        }
        while offset < bytes.count {
            let size = min(max(1, pieces[piece % pieces.count]), bytes.count - offset)
            var buffer = ByteBuffer(bytes: bytes[offset..<(offset + size)])
            reader.feed(&buffer)
            while let event = try reader.next() { take(event) }
            offset += size
            piece += 1
        }
        if close, let event = try reader.closed() { take(event) }
        return responses
    }

    static let pipelined = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Id: 1\r\n\r\nhello"
        + "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n"
        + "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
        + "HTTP/1.0 200 OK\r\n\r\nuntil the close"

    static let expected = [
        Read(status: 200, keepAlive: true, fields: ["Content-Type: text/plain", "Content-Length: 5", "X-Id: 1"], body: "hello", ended: true),
        Read(status: 404, keepAlive: true, fields: ["Transfer-Encoding: chunked"], body: "abcdefg", ended: true),
        Read(status: 204, keepAlive: true, fields: [], body: "", ended: true),
        Read(status: 200, keepAlive: false, fields: [], body: "until the close", ended: true),
    ]

    @Test func headsKeptAsLinesDecodeToTheSameFieldsHoweverTheBytesArrive() throws {
        let bytes = Array(Self.pipelined.utf8)
        #expect(try Self.read(bytes, close: true, keeping: .lines) == Self.expected)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let pieces = (0..<8).map { _ in Int.random(in: 1...40, using: &generator) }
            #expect(try Self.read(bytes, pieces: pieces, close: true, keeping: .lines) == Self.expected, "pieces \(pieces)")
        }
        #expect(try Self.read(bytes, pieces: [1], close: true, keeping: .lines) == Self.expected)
    }

    /// The hop-by-hop lists, by name in any case; nothing else (a longer or shorter name that shares a prefix, say).
    @Test func hopByHopNamesAreExactlyTheListedOnes() {
        let notForwarded = ["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                            "transfer-encoding", "upgrade", "host", "content-length", "x-3scale-debug", "x-real-ip", "x-forwarded-for",
                            "x-forwarded-proto", "x-forwarded-host", "expect"]
        let notReturned = ["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"]
        for name in notForwarded + notReturned + ["x-api-key", "hosts", "tee", "content-type", "x-forwarded-port", "upgrade-insecure-requests"] {
            for spelling in [name, name.uppercased(), name.prefix(1).uppercased() + name.dropFirst()] {
                #expect(HopByHop.isNotForwarded(spelling) == notForwarded.contains(name), "\(spelling)")
                #expect(HopByHop.isNotReturned(spelling) == notReturned.contains(name), "\(spelling)")
            }
        }
    }

    @Test func fieldLinesPassOnAsTheyCameLessHopByHopAndLength() throws {
        let head = "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nX-Spaced:  a  b\r\nkeep-alive: timeout=5\nContent-Length: 3\r\n"
            + "TRANSFER-ENCODING: chunked\r\nset-cookie:k=v\r\nUpgrade: h2c\r\nContent-Length-Extra: 1\r\n\r\n0\r\n\r\n"
        var reader = HTTP1ResponseReader(keeping: .lines)
        var buffer = ByteBuffer(string: head)
        reader.feed(&buffer)
        guard case .head(let parsed)? = try reader.next() else { Issue.record("no head"); return }
        #expect(parsed.fields.isEmpty)
        var written = ByteBuffer()
        GatewayConnectionHandler.writeFieldLines(of: parsed, into: &written)
        #expect(String(buffer: written) == "X-Spaced:  a  b\r\nset-cookie:k=v\r\nContent-Length-Extra: 1\r\n")
    }

    @Test func streamsEveryFramingAndKeepsAllFields() throws {
        #expect(try Self.read(Array(Self.pipelined.utf8), close: true) == Self.expected)
        // Without the close, the last body has not ended.
        let open = try Self.read(Array(Self.pipelined.utf8))
        #expect(open.last?.ended == false)
        #expect(open.last?.body == "until the close")
    }

    @Test func theSameEventsComeOutHoweverTheBytesAreSplit() throws {
        let bytes = Array(Self.pipelined.utf8)
        var g = ParserFuzzTests.Generator(state: 77)
        for _ in 0..<300 {
            let pieces = (0..<5).map { _ in Int(g.next() % 40) + 1 }
            #expect(try Self.read(bytes, pieces: pieces, close: true) == Self.expected)
        }
        #expect(try Self.read(bytes, pieces: [1], close: true) == Self.expected)
    }

    @Test func anAnswerToHEADHasNoBodyWhateverItsLengthSays() throws {
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        let responses = try Self.read(bytes, headRequests: [0])
        #expect(responses.map(\.body) == ["", "ok"])
        #expect(responses.allSatisfy { $0.ended })
    }

    @Test func aResponseCutShortIsAnError() throws {
        #expect(throws: HTTP1ResponseReader.Malformed.self) {
            try Self.read(Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".utf8), close: true)
        }
        #expect(throws: HTTP1ResponseReader.Malformed.self) {
            try Self.read(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab".utf8), close: true)
        }
        #expect(throws: HTTP1ResponseReader.Malformed.self) { try Self.read(Array("HTTP/1.1 200 OK\r\nX: y\r\n".utf8), close: true) }
        // A close between responses is no error.
        #expect(try Self.read(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8), close: true).count == 1)
    }

    @Test func randomAndMutatedInputNeverCrashes() {
        var g = ParserFuzzTests.Generator(state: 0xDEAD_BEEF)
        let valid = Array(Self.pipelined.utf8)
        let alphabet = Array("HTP/1.0 2345\r\n:;,-chunkedContent-LengthTransfer-Encoding0123456789abcdefxyz \t".utf8) + [0, 0xff]
        for round in 0..<2_000 {
            var bytes = valid
            if round % 2 == 0 {
                for _ in 0..<(1 + Int(g.next() % 6)) {
                    let at = Int(g.next() % UInt64(bytes.count))
                    bytes[at] = alphabet[Int(g.next() % UInt64(alphabet.count))]
                }
            } else {
                bytes = (0..<Int(g.next() % 200)).map { _ in alphabet[Int(g.next() % UInt64(alphabet.count))] }
            }
            let pieces = [Int(g.next() % 17) + 1, Int(g.next() % 17) + 1]
            if let responses = try? Self.read(bytes, pieces: pieces, close: true) {
                #expect(responses.allSatisfy { (200...999).contains($0.status) && $0.status != 101 })
            }
        }
    }

    // MARK: request heads

    @Test func requestHeadsCarryFramingAndAddedFieldsReplaceForwardedOnes() throws {
        let head = try UpstreamRequestHead.make(
            method: "POST", target: "/v1/items?a=1", host: "api.example.com", proxyAuthorization: nil,
            forwarded: [("Accept", "*/*"), ("x-secret", "from client"), ("X-Other", "o")],
            added: [("X-Secret", "first"), ("X-Secret", "token"), ("X-Forwarded-For", "127.0.0.1")], framing: .length(12))
        #expect(String(buffer: head) == "POST /v1/items?a=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\nX-Other: o\r\n"
            + "X-Secret: token\r\nX-Forwarded-For: 127.0.0.1\r\nContent-Length: 12\r\n\r\n")
        let chunked = try UpstreamRequestHead.make(method: "PUT", target: "http://origin/x", host: "origin", proxyAuthorization: "Basic dTpw",
                                                   forwarded: [], added: [], framing: .chunked)
        #expect(String(buffer: chunked) == "PUT http://origin/x HTTP/1.1\r\nHost: origin\r\nProxy-Authorization: Basic dTpw\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n")
        // Only ASCII letters fold: `^` and `~` differ by the case bit but are different names.
        #expect(!HTTP1Syntax.sameFieldName("a^b", "a~b"))
        #expect(HTTP1Syntax.sameFieldName("X-API-Key", "x-api-key"))
    }

    @Test(arguments: [
        ("/path with space", "X-A", "v"),
        ("/p\r\nX-Injected: 1", "X-A", "v"),
        ("/p", "X-A", "v\r\nX-Injected: 1"),
        ("/p", "X-A", "v\0"),
        ("/p", "Bad Name", "v"),
        ("/p", "", "v"),
        ("", "X-A", "v"),
    ])
    func requestHeadsThatWouldBreakTheWireAreRefused(_ target: String, _ name: String, _ value: String) {
        #expect(throws: UpstreamRequestHead.Invalid.self) {
            try UpstreamRequestHead.make(method: "GET", target: target, host: "h", proxyAuthorization: nil, forwarded: [],
                                         added: [(name, value)], framing: .none)
        }
    }
}
