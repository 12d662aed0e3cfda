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

        /// The first field named `name` (ASCII case-insensitive).
        public func field(_ name: String) -> String? {
            fields.first { $0.name.utf8.count == name.utf8.count && $0.name.lowercased() == name }?.value
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
            buffer.clear()
            return .end
        case .head where buffer.readableBytes == 0:
            return nil
        default:
            throw Malformed("the connection closed in the middle of a response")
        }
    }

    /// Reads a status line and header fields up to the empty line, or nothing if they have not all arrived.
    private mutating func readHead() throws(Malformed) -> Head? {
        let keeping = self.keeping
        let parsed = buffer.withUnsafeReadableBytes { Self.parseHead($0, keeping: keeping) }
        guard let (parsedHead, consumed) = try parsed.get() else {
            if buffer.readableBytes > Self.headLimit { throw Malformed("the response head is longer than \(Self.headLimit) bytes") }
            compact()
            return nil
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        var head = parsedHead.head
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
    }

    /// A status line and header fields up to the empty line, and the bytes they took; nil if they have not all
    /// arrived. (Works on the buffer's bytes in place: this runs once per proxied request.)
    static func parseHead(_ raw: UnsafeRawBufferPointer, keeping: Fields) -> Result<(ParsedHead, Int)?, Malformed> {
        guard let end = HTTP1Syntax.endOfHead(raw) else { return .success(nil) }
        guard end.upperBound <= headLimit else { return .failure(Malformed("the response head is longer than \(headLimit) bytes")) }
        var head: ParsedHead?
        let problem = HTTP1Syntax.forEachLine(of: raw, before: end.lowerBound) { line in
            guard var parsed = head else {
                guard let (minor, status) = statusLine(line) else { return "the status line is not HTTP/1.x" }
                head = ParsedHead(head: Head(status: status, keepAlive: minor == 1, fields: [], contentLength: nil, minorVersion: minor),
                                  framing: HTTP1FramingFields(minorVersion: minor))
                return nil
            }
            defer { head = parsed }
            return field(line, into: &parsed, keeping: keeping)
        }
        if let problem { return .failure(Malformed(problem)) }
        guard let head else { return .failure(Malformed("empty response head")) }
        return .success((head, end.upperBound))
    }

    /// Reads one header field line into `parsed`; the problem if it is not a valid field.
    static func field(_ line: Bytes, into parsed: inout ParsedHead, keeping: Fields) -> String? {
        let split = HTTP1Syntax.splitField(line, allowed: { $0 != 0 && $0 != 13 && $0 != 10 })
        guard case .success(let (name, value)) = split else {
            if case .failure(let problem) = split { return "a response \(problem.description)" }
            return nil
        }
        if let problem = parsed.framing.read(name, value) { return problem }
        let kept: Bool
        switch keeping {
        case .all: kept = true
        case .prefixed(let prefix):
            kept = name.count > prefix.utf8CodeUnitCount && HTTP1Syntax.equalsLowercased(name.prefix(prefix.utf8CodeUnitCount), prefix)
        }
        if kept { parsed.head.fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))) }
        return nil
    }

    /// Frees what was read once nothing unread is left, so a long-lived connection's buffer does not grow.
    private mutating func compact() {
        if buffer.readableBytes == 0 { buffer.clear() } else if buffer.readerIndex > 16 * 1024 { buffer.discardReadBytes() }
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

/// Something that is not HTTP/1.x where a message was expected: the connection is dropped, never guessed at.
public struct HTTP1Malformed: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The body of one HTTP/1.1 message as it is read (RFC 9112 §6–7): a given length, chunks (extensions ignored,
/// trailers skipped), or everything up to the end of the connection. Hands out slices of the bytes read, never
/// copies; the request and response readers share it.
struct HTTP1BodyFramer {
    enum Framing {
        case length(Int64)
        case chunked
        case untilClose
    }

    enum Step {
        case bytes(ByteBuffer)
        case end
        case needMore
    }

    private enum State {
        /// Body bytes still to come.
        case length(Int64)
        case chunkSize
        case chunkData(Int64)
        /// The CRLF that ends a chunk's data.
        case chunkEnd
        case trailers
        case untilClose
    }

    private var state: State
    /// Trailer lines longer than this are refused.
    static let lineLimit = 64 * 1024

    init(_ framing: Framing) {
        switch framing {
        case .length(let length): state = .length(length)
        case .chunked: state = .chunkSize
        case .untilClose: state = .untilClose
        }
    }

    var runsToClose: Bool {
        if case .untilClose = state { return true }
        return false
    }

    /// The next piece of the body from `buffer`, its end, or `needMore` until more bytes arrive.
    mutating func step(_ buffer: inout ByteBuffer) throws(HTTP1Malformed) -> Step {
        while true {
            switch state {
            case .length(let remaining):
                if remaining == 0 { return .end }
                guard let slice = Self.take(remaining, from: &buffer) else { return .needMore }
                state = .length(remaining - Int64(slice.readableBytes))
                return .bytes(slice)
            case .chunkSize:
                guard let line = try Self.readLine(&buffer, limit: 1024) else { return .needMore }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(size)
            case .chunkData(let remaining):
                guard let slice = Self.take(remaining, from: &buffer) else { return .needMore }
                let left = remaining - Int64(slice.readableBytes)
                state = left == 0 ? .chunkEnd : .chunkData(left)
                return .bytes(slice)
            case .chunkEnd:
                guard let line = try Self.readLine(&buffer, limit: 2) else { return .needMore }
                guard line.isEmpty else { throw HTTP1Malformed("a chunk is longer than its size says") }
                state = .chunkSize
            case .trailers:
                guard let line = try Self.readLine(&buffer, limit: Self.lineLimit) else { return .needMore }
                if line.isEmpty {
                    state = .length(0)
                    return .end
                }
            case .untilClose:
                guard let slice = Self.take(Int64.max, from: &buffer) else { return .needMore }
                return .bytes(slice)
            }
        }
    }

    /// Up to `count` bytes that have arrived (a slice of the bytes read, not a copy), or nil when none have.
    private static func take(_ count: Int64, from buffer: inout ByteBuffer) -> ByteBuffer? {
        let length = Int(min(Int64(buffer.readableBytes), count))
        guard length > 0 else { return nil }
        return buffer.readSlice(length: length)
    }

    /// One line (without its CRLF or LF), or nil until it has arrived.
    private static func readLine(_ buffer: inout ByteBuffer, limit: Int) throws(HTTP1Malformed) -> ByteBufferView.SubSequence? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 10) else {
            if view.count > limit { throw HTTP1Malformed("a line of the body framing is too long") }
            return nil
        }
        buffer.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
        var line = view[view.startIndex..<lf]
        if line.last == 13 { line = line.dropLast() }
        return line
    }

    /// A chunk-size line: hexadecimal digits, then optional extensions after `;`.
    static func chunkSize(_ line: ByteBufferView.SubSequence) throws(HTTP1Malformed) -> Int64 {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }
        let hex = HTTP1Syntax.trimmed(digits[...])
        guard !hex.isEmpty, hex.count <= 15 else { throw HTTP1Malformed("a chunk size is missing or too large") }
        var size: Int64 = 0
        for byte in hex {
            let digit: Int64
            switch byte {
            case 48...57: digit = Int64(byte - 48)
            case 65...70: digit = Int64(byte - 55)
            case 97...102: digit = Int64(byte - 87)
            default: throw HTTP1Malformed("a chunk size is not hexadecimal")
            }
            size = size * 16 + digit
        }
        return size
    }
}

/// Byte-level pieces of HTTP/1.1's syntax (RFC 9110, 9112) shared by the readers and writers of the gateway's wire
/// format.
public enum HTTP1Syntax {
    /// The index range of the blank line ending a head (CRLFCRLF, or bare LFs).
    public static func endOfHead(_ raw: UnsafeRawBufferPointer) -> Range<Int>? {
        var i = 0
        let count = raw.count
        while i < count {
            if raw[i] == 10 {
                if i + 1 < count, raw[i + 1] == 10 { return i..<(i + 2) }
                if i + 2 < count, raw[i + 1] == 13, raw[i + 2] == 10 { return i..<(i + 3) }
            }
            i += 1
        }
        return nil
    }

    public static func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 32 || bytes[start] == 9 { bytes.formIndex(after: &start) }
        while end > start, bytes[bytes.index(before: end)] == 32 || bytes[bytes.index(before: end)] == 9 { bytes.formIndex(before: &end) }
        return bytes[start..<end]
    }

    /// `bytes` equals `lowercased` (ASCII, lower case) without regard to case.
    public static func equalsLowercased(_ bytes: some Collection<UInt8>, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        var i = 0
        for byte in bytes {
            let folded = byte >= 65 && byte <= 90 ? byte + 32 : byte
            if folded != lowercased.utf8Start[i] { return false }
            i += 1
        }
        return true
    }

    /// RFC 9110 `tchar`.
    public static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"),
             UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"),
             UInt8(ascii: "~"): return true
        default: return false
        }
    }

    typealias Bytes = Slice<UnsafeRawBufferPointer>

    /// Calls `visit` with each line of a head (without its CRLF or LF) that starts before `end`; stops at the first
    /// problem `visit` returns, and returns it.
    static func forEachLine(of raw: UnsafeRawBufferPointer, before end: Int, _ visit: (Bytes) -> String?) -> String? {
        var start = 0
        while start < end {
            var lineEnd = start
            while raw[lineEnd] != 10 { lineEnd += 1 }
            var line = raw[start..<lineEnd]
            if line.last == 13 { line = line.dropLast() }
            start = lineEnd + 1
            if let problem = visit(line) { return problem }
        }
        return nil
    }

    /// A header line's name (a token, right before the colon: whitespace there or a folded line is refused) and its
    /// value without surrounding whitespace, whose bytes must all be `allowed`.
    static func splitField(_ line: Bytes, allowed: (UInt8) -> Bool) -> Result<(name: Bytes, value: Bytes), HTTP1Malformed> {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else { return .failure(HTTP1Malformed("header line has no field name")) }
        let name = line[line.startIndex..<colon]
        guard name.allSatisfy(isTokenCharacter) else { return .failure(HTTP1Malformed("header field name is not a token")) }
        let value = trimmed(line[(colon + 1)...])
        guard value.allSatisfy(allowed) else { return .failure(HTTP1Malformed("header value holds a control character")) }
        return .success((name, value))
    }

    /// Writes `body` as one chunk of a chunked body (RFC 9112 §7.1): its size in hexadecimal, the bytes, CRLF.
    static func writeChunk(_ body: ByteBuffer, on context: ChannelHandlerContext) {
        guard body.readableBytes > 0 else { return }
        var size = context.channel.allocator.buffer(capacity: 18)
        size.writeString(String(body.readableBytes, radix: 16))
        size.writeStaticString("\r\n")
        context.write(NIOAny(size), promise: nil)
        context.write(NIOAny(body), promise: nil)
        context.write(NIOAny(crlf), promise: nil)
    }

    static let crlf = ByteBuffer(staticString: "\r\n")
    /// The last chunk of a chunked body, with no trailers.
    static let lastChunk = ByteBuffer(staticString: "0\r\n\r\n")

    /// A header field name that can go on the wire: a non-empty token.
    public static func isValidFieldName(_ name: String) -> Bool {
        !name.utf8.isEmpty && name.utf8.allSatisfy(isTokenCharacter)
    }

    /// A header field value that can go on the wire: no CR, LF or NUL (which would end the field or the head).
    public static func isValidFieldValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 13 || $0 == 10 || $0 == 0 }
    }
}

/// What a message's header fields say about its body's framing and its connection (RFC 9112 §6, §9.3), read the
/// same way for requests and responses.
struct HTTP1FramingFields {
    var contentLength: Int64?
    var transferEncoded = false
    /// Chunked is the last transfer coding.
    var chunked = false
    var keepAlive: Bool
    let minorVersion: Int

    init(minorVersion: Int) {
        self.minorVersion = minorVersion
        keepAlive = minorVersion == 1
    }

    /// Takes note of the field if it is `Content-Length`, `Transfer-Encoding` or `Connection`; a problem if its
    /// value cannot be trusted.
    mutating func read(_ name: HTTP1Syntax.Bytes, _ value: HTTP1Syntax.Bytes) -> String? {
        if HTTP1Syntax.equalsLowercased(name, "content-length") {
            guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return "Content-Length is not a number" }
            let length = value.reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
            if let known = contentLength, known != length { return "two different Content-Length values" }
            contentLength = length
        } else if HTTP1Syntax.equalsLowercased(name, "transfer-encoding") {
            transferEncoded = true
            let last = value.lastIndex(of: UInt8(ascii: ",")).map { value[($0 + 1)...] } ?? value
            chunked = HTTP1Syntax.equalsLowercased(HTTP1Syntax.trimmed(last), "chunked")
        } else if HTTP1Syntax.equalsLowercased(name, "connection") {
            var rest = value
            while !rest.isEmpty {
                let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                let token = HTTP1Syntax.trimmed(rest[rest.startIndex..<comma])
                if HTTP1Syntax.equalsLowercased(token, "close") { keepAlive = false }
                if HTTP1Syntax.equalsLowercased(token, "keep-alive"), minorVersion == 0 { keepAlive = true }
                rest = comma < rest.endIndex ? rest[(comma + 1)...] : rest[rest.endIndex...]
            }
        }
        return nil
    }
}
