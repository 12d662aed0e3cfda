import NIOCore

/// Reads HTTP/1.x responses off one client connection, in order (RFC 9112), as events: each response's head, its
/// body as slices of the bytes read (Content-Length, chunked with extensions and trailers, or up to the end of
/// the connection; never copied), and its end. 1xx interim answers are skipped; a switch of protocols is refused.
///
/// It stands in for NIO's response decoder on the gateway's upstream connections and the metering client's:
/// that one built a header dictionary per answer and sat in every write's path to learn which request was a HEAD
/// (a large share of a proxied request's cost). Anything that is not HTTP/1.x is an error: the connection is then
/// dropped, never guessed at.
public struct HTTP1ResponseReader {
    public struct Head {
        public var status: Int
        /// The connection carries another response after this one.
        public var keepAlive: Bool
        /// The header fields kept (see `Fields`), names as sent, in order.
        public var fields: [(name: String, value: String)]
        public var contentLength: Int64?
        public var minorVersion: Int
        /// With `.lines`: the head's lines as they came, the status line first, each with its line end (the empty
        /// line that ends the head left out).
        public var lines = ByteBuffer()

        /// The header fields as strings: those kept, or with `.lines` all of them, decoded from the lines.
        public func decodedFields() -> [(name: String, value: String)] {
            guard lines.readableBytes > 0 else { return fields }
            var decoded: [(name: String, value: String)] = []
            forEachFieldLine { line, name in
                let value = HTTP1Syntax.trimmed(line[(name.endIndex + 1)...])
                decoded.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
            return decoded
        }

        /// Each field line of `lines` (the status line skipped) with its name. The reader checked every line already.
        func forEachFieldLine(_ visit: (_ line: Slice<UnsafeRawBufferPointer>, _ name: Slice<UnsafeRawBufferPointer>) -> Void) {
            lines.withUnsafeReadableBytes { raw in
                var lines = HTTP1Syntax.HeadLines(raw, before: raw.count)
                _ = lines.next()
                while let line = lines.next() {
                    if let colon = raw[line].firstIndex(of: UInt8(ascii: ":")) { visit(raw[line], raw[line.lowerBound..<colon]) }
                }
            }
        }

        /// The first kept field named `name` (ASCII case-insensitive); with `.lines` none is kept, see `decodedFields`.
        public func field(_ name: String) -> String? {
            fields.first { HTTP1Syntax.sameFieldName($0.name, name) }?.value
        }
    }

    public enum Event {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    /// Which header fields a head keeps: framing and connection fields are read either way.
    public enum Fields: Sendable {
        case all
        /// Only those whose name starts with this (lower-case) prefix, as `3scale-` for authrep answers.
        case prefixed(StaticString)
        /// None as strings: the head keeps its lines as they came (`Head.lines`), checked like any others, to be
        /// passed on as they are or decoded when needed (`Head.decodedFields()`). A proxy's upstream responses.
        case lines
    }

    public typealias Malformed = HTTP1Malformed

    /// A response head longer than this is refused (NIO's default limit is 80 KB).
    public static let headLimit = 64 * 1024

    private enum State {
        case head
        case body(HTTP1BodyFramer)
    }

    private var state = State.head
    private var buffer = ByteBuffer()
    /// Where the look for the end of the head under way resumes (its bytes before were looked at).
    private var headScanned = 0
    private let keeping: Fields
    private let deliversBody: Bool
    /// The response to come answers a HEAD request: it has no body, whatever its framing fields say.
    private var answeringHEAD = false

    /// `deliversBody` false: bodies are framed and dropped, and `next` gives no `.body` events.
    public init(keeping: Fields = .all, deliversBody: Bool = true) {
        self.keeping = keeping
        self.deliversBody = deliversBody
    }

    /// The next response answers a request for its head only (`HEAD`). Call when sending that request.
    public mutating func expectAnswerToHEAD() { answeringHEAD = true }

    /// Nothing unread, and no response begun.
    public var isIdle: Bool {
        if case .head = state { return buffer.readableBytes == 0 }
        return false
    }

    /// The body in progress runs to the end of the connection.
    public var bodyRunsToClose: Bool {
        if case .body(let body) = state { return body.runsToClose }
        return false
    }

    /// Takes bytes read from the connection.
    public mutating func feed(_ bytes: inout ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next event, or nil until more bytes arrive.
    public mutating func next() throws(Malformed) -> Event? {
        while true {
            switch state {
            case .head:
                guard let head = try readHead() else { return nil }
                // 100 Continue and the like: the final response follows.
                if head.status == 101 { throw Malformed("the server switched protocols, which the gateway does not support") }
                if head.status < 200 { continue }
                return .head(head)
            case .body(var body):
                let step = try body.step(&buffer)
                state = .body(body)
                switch step {
                case .bytes(let slice): if deliversBody { return .body(slice) }
                case .end:
                    state = .head
                    return .end
                case .needMore:
                    compact()
                    return nil
                }
            }
        }
    }

    /// The connection was closed: `.end` of a body that ran to the close, nil between responses, and an error when a
    /// response was cut short.
    public mutating func closed() throws(Malformed) -> Event? {
        switch state {
        case .body(let body) where body.runsToClose:
            state = .head
            buffer = HTTP1Syntax.noBytes
            return .end
        case .head where buffer.readableBytes == 0:
            return nil
        default:
            throw Malformed("the connection closed in the middle of a response")
        }
    }

    /// Reads a status line and header fields up to the empty line, or nothing if they have not all arrived.
    private mutating func readHead() throws(Malformed) -> Head? {
        let keeping = self.keeping, scanned = headScanned
        let parsed = buffer.withUnsafeReadableBytes { Self.parseHead($0, keeping: keeping, from: scanned) }
        guard let (parsedHead, consumed) = try parsed.get() else {
            if buffer.readableBytes > Self.headLimit { throw Malformed("the response head is longer than \(Self.headLimit) bytes") }
            headScanned = HTTP1Syntax.endOfHeadResume(count: buffer.readableBytes)
            compact()
            return nil
        }
        headScanned = 0
        var head = parsedHead.head
        if case .lines = keeping { head.lines = buffer.getSlice(at: buffer.readerIndex, length: parsedHead.linesLength) ?? ByteBuffer() }
        buffer.moveReaderIndex(forwardBy: consumed)
        head.contentLength = parsedHead.framing.contentLength
        head.keepAlive = parsedHead.framing.keepAlive
        if head.status < 200 { return head }
        let noBody = answeringHEAD || head.status == 204 || head.status == 304
        answeringHEAD = false
        if noBody {
            state = .body(HTTP1BodyFramer(.length(0)))
        } else if parsedHead.framing.chunked {
            state = .body(HTTP1BodyFramer(.chunked))
        } else if parsedHead.framing.transferEncoded || head.contentLength == nil {
            // RFC 9112 §6.3: a transfer coding other than chunked last, or no length at all, runs to the close.
            head.keepAlive = false
            state = .body(HTTP1BodyFramer(.untilClose))
        } else {
            state = .body(HTTP1BodyFramer(.length(head.contentLength ?? 0)))
        }
        return head
    }

    typealias Bytes = Slice<UnsafeRawBufferPointer>

    struct ParsedHead {
        var head: Head
        var framing: HTTP1FramingFields
        /// The bytes of the status line and field lines, up to the empty line.
        var linesLength = 0
    }

    /// A status line and header fields up to the empty line, and the bytes they took; nil if they have not all
    /// arrived. (Works on the buffer's bytes in place: this runs once per proxied request.)
    static func parseHead(_ raw: UnsafeRawBufferPointer, keeping: Fields, from scanned: Int = 0) -> Result<(ParsedHead, Int)?, Malformed> {
        guard let end = HTTP1Syntax.endOfHead(raw, from: scanned) else { return .success(nil) }
        guard end.upperBound <= headLimit else { return .failure(Malformed("the response head is longer than \(headLimit) bytes")) }
        var lines = HTTP1Syntax.HeadLines(raw, before: end.lowerBound)
        guard let first = lines.next() else { return .failure(Malformed("empty response head")) }
        guard let (minor, status) = statusLine(raw[first]) else { return .failure(Malformed("the status line is not HTTP/1.x")) }
        var head = ParsedHead(head: Head(status: status, keepAlive: minor == 1, fields: [], contentLength: nil, minorVersion: minor),
                              framing: HTTP1FramingFields(minorVersion: minor))
        while let line = lines.next() {
            if let problem = field(raw, line, into: &head, keeping: keeping) { return .failure(Malformed(problem)) }
        }
        head.linesLength = end.lowerBound + 1
        return .success((head, end.upperBound))
    }

    /// Reads one header field line into `parsed`; the problem if it is not a valid field.
    static func field(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>, into parsed: inout ParsedHead, keeping: Fields) -> String? {
        let name: Bytes, value: Bytes
        switch HTTP1Syntax.splitField(raw, line, values: .response) {
        case .success(let split): (name, value) = split
        case .failure(let problem): return "a response \(problem.description)"
        }
        if let problem = parsed.framing.read(name, value) { return problem }
        let kept: Bool
        switch keeping {
        case .all: kept = true
        case .prefixed(let prefix):
            kept = name.count > prefix.utf8CodeUnitCount && HTTP1Syntax.equalsLowercased(name.prefix(prefix.utf8CodeUnitCount), prefix)
        case .lines: kept = false
        }
        if kept { parsed.head.fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))) }
        return nil
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

    /// `HTTP/1.x SSS reason`: the minor version and the status, or nil.
    static func statusLine(_ line: Bytes) -> (minor: Int, status: Int)? {
        let b = line.startIndex
        guard line.count >= 12, line.count == 12 || line[b + 12] == 32, HTTP1Syntax.equalsLowercased(line.prefix(7), "http/1."),
              line[b + 7] == 48 || line[b + 7] == 49, line[b + 8] == 32,
              line[(b + 9)..<(b + 12)].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let status = line[(b + 9)..<(b + 12)].reduce(0) { $0 * 10 + Int($1 - 48) }
        guard status >= 100 else { return nil }
        return (Int(line[b + 7] - 48), status)
    }
}
