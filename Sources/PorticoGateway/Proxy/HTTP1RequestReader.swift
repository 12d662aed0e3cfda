import NIOCore
import NIOHTTP1

/// Reads HTTP/1.x requests off a client connection, in order (RFC 9112), as events: each request's head (method,
/// target, version, header fields as sent, and what framing and connection fields say), its body as slices of the
/// bytes read (Content-Length or chunked), and its end.
///
/// It stands in for NIO's request decoder on the gateway's HTTP/1 connections, handing the connection handler the
/// fields the pipeline reads without a header dictionary or a boxed request part per request. It is strict where
/// HTTP/1.1 leaves room for two readers to disagree about where a request ends (request smuggling): a
/// Content-Length and a Transfer-Encoding together, two different lengths, a transfer coding other than chunked
/// last, whitespace before a field's colon, folded field lines, and control characters are refused. The gateway
/// writes every request it forwards anew, so what it accepts is never passed on as it came.
struct HTTP1RequestReader {
    struct Head {
        var method: String
        var target: String
        var version: HTTPVersion
        /// The header fields, names as sent, in order.
        var fields: [(String, String)]
        /// The connection may carry another request after this one (version and `Connection`).
        var keepAlive: Bool
        var contentLength: Int64?
        var chunked: Bool
        /// Bytes of the request line and header fields.
        var size: Int

        var isHEAD: Bool { method == "HEAD" }
        var hasBody: Bool { chunked || (contentLength ?? 0) > 0 }

        /// The first field named `name` (lower case; compared without regard to case).
        func field(_ name: StaticString) -> String? {
            fields.first { HTTP1Syntax.equalsLowercased($0.0.utf8, name) }?.1
        }
    }

    enum Event {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    /// Why a request was refused, with the status that says so.
    struct Refusal: Error, Equatable, CustomStringConvertible {
        var status: Int
        var description: String
    }

    private enum State {
        case head
        case body(HTTP1BodyFramer)
    }

    private var state = State.head
    private var buffer = ByteBuffer()
    /// Where the look for the end of the head under way resumes (its bytes before were looked at).
    private var headScanned = 0
    /// A request head (request line and fields) longer than this is refused with 431 (NIO's decoder allowed 80 KB).
    let headLimit: Int

    init(headLimit: Int = 80 * 1024) {
        self.headLimit = headLimit
    }

    /// Takes bytes read from the connection.
    mutating func feed(_ bytes: inout ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next event, or nil until more bytes arrive. After a refusal the connection has to close: where the next
    /// request would start is unknown.
    mutating func next() throws(Refusal) -> Event? {
        switch state {
        case .head:
            let limit = headLimit, scanned = headScanned
            let parsed = buffer.withUnsafeReadableBytes { Self.parseHead($0, limit: limit, from: scanned) }
            guard let (head, consumed) = try parsed.get() else {
                if buffer.readableBytes > headLimit { throw Refusal(status: 431, description: "the request head is longer than \(headLimit) bytes") }
                headScanned = HTTP1Syntax.endOfHeadResume(count: buffer.readableBytes)
                compact()
                return nil
            }
            headScanned = 0
            buffer.moveReaderIndex(forwardBy: consumed)
            if head.chunked {
                state = .body(HTTP1BodyFramer(.chunked))
            } else {
                state = .body(HTTP1BodyFramer(.length(head.contentLength ?? 0)))
            }
            return .head(head)
        case .body(var body):
            let step: HTTP1BodyFramer.Step
            do { step = try body.step(&buffer) } catch { throw Refusal(status: 400, description: error.description) }
            state = .body(body)
            switch step {
            case .bytes(let slice): return .body(slice)
            case .end:
                state = .head
                return .end
            case .needMore:
                compact()
                return nil
            }
        }
    }

    /// Frees what was read once nothing unread is left, so a long-lived connection's buffer does not grow.
    private mutating func compact() {
        if buffer.readableBytes == 0 {
            // Let go of the bytes read (the channel's receive buffer, which it reuses when nobody else holds it)
            // rather than clear them in place, which would copy a buffer that is shared.
            buffer = HTTP1Syntax.noBytes
        } else if buffer.readerIndex > 16 * 1024 {
            buffer.discardReadBytes()
        }
    }

    typealias Bytes = Slice<UnsafeRawBufferPointer>

    /// A request line and header fields up to the empty line, and the bytes they took (with any empty lines before
    /// the request line, which RFC 9112 §2.2 lets a server skip); nil if they have not all arrived.
    static func parseHead(_ raw: UnsafeRawBufferPointer, limit: Int, from scanned: Int = 0) -> Result<(Head, Int)?, Refusal> {
        var start = 0
        while start < raw.count, raw[start] == 13 || raw[start] == 10 { start += 1 }
        guard start < raw.count else { return .success(nil) }
        let rest = UnsafeRawBufferPointer(rebasing: raw[start...])
        guard let end = HTTP1Syntax.endOfHead(rest, from: scanned - start) else { return .success(nil) }
        guard end.upperBound <= limit else { return .failure(Refusal(status: 431, description: "the request head is longer than \(limit) bytes")) }
        var lines = HTTP1Syntax.HeadLines(rest, before: end.lowerBound)
        guard let first = lines.next() else { return .failure(Refusal(status: 400, description: "empty request head")) }
        guard let requestLine = requestLine(rest[first]) else { return .failure(Refusal(status: 400, description: "the request line is not HTTP/1.x")) }
        var head = Head(method: requestLine.method, target: requestLine.target, version: requestLine.version, fields: [],
                        keepAlive: false, contentLength: nil, chunked: false, size: end.upperBound)
        var framing = HTTP1FramingFields(minorVersion: requestLine.version.minor)
        while let line = lines.next() {
            if let problem = field(rest, line, into: &head, framing: &framing) { return .failure(Refusal(status: 400, description: problem)) }
        }
        if framing.transferEncoded, framing.contentLength != nil {
            return .failure(Refusal(status: 400, description: "a request with both Content-Length and Transfer-Encoding"))
        }
        if framing.transferEncoded, !framing.chunked {
            return .failure(Refusal(status: 400, description: "a request whose transfer coding does not end with chunked"))
        }
        head.keepAlive = framing.keepAlive
        head.contentLength = framing.contentLength
        head.chunked = framing.chunked
        return .success((head, start + end.upperBound))
    }

    /// `METHOD SP request-target SP HTTP/1.x`.
    static func requestLine(_ line: Bytes) -> (method: String, target: String, version: HTTPVersion)? {
        guard let firstSpace = line.firstIndex(of: 32), firstSpace > line.startIndex else { return nil }
        let method = line[line.startIndex..<firstSpace]
        guard method.allSatisfy(HTTP1Syntax.isTokenCharacter) else { return nil }
        let afterMethod = line[(firstSpace + 1)...]
        guard let secondSpace = afterMethod.firstIndex(of: 32), secondSpace > afterMethod.startIndex else { return nil }
        let target = afterMethod[afterMethod.startIndex..<secondSpace]
        // Visible ASCII and bytes of UTF-8 (sent unencoded by some clients); no controls, spaces or DEL.
        guard target.allSatisfy({ $0 > 32 && $0 != 127 }) else { return nil }
        let version = afterMethod[(secondSpace + 1)...]
        guard version.count == 8, HTTP1Syntax.equalsLowercased(version.prefix(7), "http/1."),
              let minor = version.last, minor == 48 || minor == 49 else { return nil }
        return (String(decoding: method, as: UTF8.self), String(decoding: target, as: UTF8.self), HTTPVersion(major: 1, minor: Int(minor - 48)))
    }

    /// Reads one header field line into `head`; the problem if it is not a valid field.
    static func field(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>, into head: inout Head, framing: inout HTTP1FramingFields) -> String? {
        let name: Bytes, value: Bytes
        switch HTTP1Syntax.splitField(raw, line, values: .request) {
        case .success(let split): (name, value) = split
        case .failure(let problem): return "a \(problem.description)"
        }
        if let problem = framing.read(name, value) { return problem }
        head.fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        return nil
    }
}
