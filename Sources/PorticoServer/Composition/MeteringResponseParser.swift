import NIOCore

/// Reads the responses of a Service Management API endpoint off one connection, pipelined, in order (RFC 9112):
/// each response's status, whether the connection stays open, and its `3scale-*` headers, which are all an
/// authrep's answer carries for a gateway (APIcast asks for no body). Bodies are framed (Content-Length, chunked
/// with trailers, or up to the end of the connection) and dropped without being copied.
///
/// It replaces NIO's response decoder and request encoder on the metering client's connections: those built a
/// header dictionary and three pipeline writes per authrep, a large part of a cached gateway request's cost.
/// Anything that is not HTTP/1.x is an error: the connection is then dropped, never guessed at.
struct MeteringResponseParser {
    struct Response: Equatable {
        var status: Int
        /// The connection carries another response after this one.
        var keepAlive: Bool
        /// The `3scale-*` header fields, names as sent.
        var headers: [(name: String, value: String)]

        static func == (a: Response, b: Response) -> Bool {
            a.status == b.status && a.keepAlive == b.keepAlive && a.headers.elementsEqual(b.headers) { $0 == $1 }
        }

        /// The first field named `name` (ASCII case-insensitive).
        func header(_ name: String) -> String? {
            headers.first { $0.name.utf8.count == name.utf8.count && $0.name.lowercased() == name }?.value
        }
    }

    struct Malformed: Error, Equatable, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A response head longer than this is refused (NIO's default limit is 80 KB; answers here are a few hundred bytes).
    static let headLimit = 64 * 1024

    private enum State {
        case head
        /// Body bytes still to skip before the response is complete.
        case length(Int64, Response)
        case chunkSize(Response)
        case chunkData(Int64, Response)
        /// The CRLF that ends a chunk's data.
        case chunkEnd(Response)
        case trailers(Response)
        /// The body runs to the end of the connection; nothing after it is a response.
        case untilClose
    }

    private var state = State.head
    private var buffer = ByteBuffer()

    /// Takes bytes read from the connection.
    mutating func feed(_ bytes: inout ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            buffer.writeBuffer(&bytes)
        }
    }

    /// The next complete response, or nil until more bytes arrive. A response whose body runs to the end of the
    /// connection is returned once its head is read (with `keepAlive` false): its body is of no use here.
    mutating func next() throws(Malformed) -> Response? {
        while true {
            switch state {
            case .head:
                guard let response = try readHead() else { return nil }
                // 100 Continue and the like: the final response follows. (Nothing here asks to switch protocols.)
                if response.status == 101 { throw Malformed("the endpoint switched protocols") }
                if response.status < 200 { continue }
                // Done unless a body is still to be read (one that runs to the close is never waited for).
                switch state {
                case .head, .untilClose: return response
                default: continue
                }
            case .length(let remaining, let response):
                let left = skip(remaining)
                if left > 0 {
                    state = .length(left, response)
                    return nil
                }
                state = .head
                return response
            case .chunkSize(let response):
                guard let line = try readLine(limit: 1024) else { return nil }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers(response) : .chunkData(size, response)
            case .chunkData(let remaining, let response):
                let left = skip(remaining)
                if left > 0 {
                    state = .chunkData(left, response)
                    return nil
                }
                state = .chunkEnd(response)
            case .chunkEnd(let response):
                guard let line = try readLine(limit: 2) else { return nil }
                guard line.isEmpty else { throw Malformed("a chunk is longer than its size says") }
                state = .chunkSize(response)
            case .trailers(let response):
                guard let line = try readLine(limit: Self.headLimit) else { return nil }
                if line.isEmpty {
                    state = .head
                    return response
                }
            case .untilClose:
                buffer.moveReaderIndex(to: buffer.writerIndex)
                compact()
                return nil
            }
        }
    }

    /// Reads a status line and header fields up to the empty line, or nothing if they have not all arrived.
    private mutating func readHead() throws(Malformed) -> Response? {
        let parsed = buffer.withUnsafeReadableBytes { Self.parseHead($0) }
        guard let (head, consumed) = try parsed.get() else {
            if buffer.readableBytes > Self.headLimit { throw Malformed("the response head is longer than \(Self.headLimit) bytes") }
            compact()
            return nil
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        var response = head.response
        if Self.hasNoBody(response.status) {
            state = .head
        } else if head.chunked {
            state = .chunkSize(response)
        } else if head.transferEncoded || head.contentLength == nil {
            // RFC 9112 §6.3: a transfer coding other than chunked last, or no length at all, runs to the close.
            response.keepAlive = false
            state = .untilClose
        } else if let length = head.contentLength, length > 0 {
            state = .length(length, response)
        } else {
            state = .head
        }
        return response
    }

    typealias Bytes = Slice<UnsafeRawBufferPointer>

    struct Head {
        var response: Response
        var contentLength: Int64?
        var chunked = false
        var transferEncoded = false
        var minorVersion = 1
    }

    /// A status line and header fields up to the empty line, and the bytes they took; nil if they have not all
    /// arrived. (Works on the buffer's bytes in place: this runs once per authrep.)
    static func parseHead(_ raw: UnsafeRawBufferPointer) -> Result<(Head, Int)?, Malformed> {
        guard let end = endOfHead(raw) else { return .success(nil) }
        guard end.upperBound <= headLimit else { return .failure(Malformed("the response head is longer than \(headLimit) bytes")) }
        var start = 0
        var head: Head?
        while start < end.lowerBound {
            var lineEnd = start
            while raw[lineEnd] != 10 { lineEnd += 1 }
            var line = raw[start..<lineEnd]
            if line.last == 13 { line = line.dropLast() }
            start = lineEnd + 1
            guard var parsed = head else {
                guard let (minor, status) = statusLine(line) else { return .failure(Malformed("the status line is not HTTP/1.x")) }
                head = Head(response: Response(status: status, keepAlive: minor == 1, headers: []), minorVersion: minor)
                continue
            }
            if let problem = field(line, into: &parsed) { return .failure(problem) }
            head = parsed
        }
        guard let head else { return .failure(Malformed("empty response head")) }
        return .success((head, end.upperBound))
    }

    /// Reads one header field line into `head`; the problem if it is not a valid field.
    static func field(_ line: Bytes, into head: inout Head) -> Malformed? {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
            return Malformed("a response header line has no field name")
        }
        let name = line[line.startIndex..<colon]
        guard name.allSatisfy(isTokenCharacter) else { return Malformed("a response header field name is not a token") }
        let value = trimmed(line[(colon + 1)...])
        guard !value.contains(where: { $0 == 0 || $0 == 13 || $0 == 10 }) else { return Malformed("a response header value holds a control character") }
        if equalsLowercased(name, "content-length") {
            guard !value.isEmpty, value.count <= 18, value.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return Malformed("Content-Length is not a number") }
            let length = value.reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
            if let known = head.contentLength, known != length { return Malformed("two different Content-Length values") }
            head.contentLength = length
        } else if equalsLowercased(name, "transfer-encoding") {
            head.transferEncoded = true
            // Chunked must be the last coding; otherwise the body runs to the end of the connection.
            let last = value.lastIndex(of: UInt8(ascii: ",")).map { value[($0 + 1)...] } ?? value
            head.chunked = equalsLowercased(trimmed(last), "chunked")
        } else if equalsLowercased(name, "connection") {
            var rest = value
            while !rest.isEmpty {
                let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                let token = trimmed(rest[rest.startIndex..<comma])
                if equalsLowercased(token, "close") { head.response.keepAlive = false }
                if equalsLowercased(token, "keep-alive"), head.minorVersion == 0 { head.response.keepAlive = true }
                rest = comma < rest.endIndex ? rest[(comma + 1)...] : rest[rest.endIndex...]
            }
        } else if name.count > 7, equalsLowercased(name.prefix(7), "3scale-") {
            head.response.headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return nil
    }

    /// One line (without its CRLF or LF), or nil until it has arrived.
    private mutating func readLine(limit: Int) throws(Malformed) -> ByteBufferView.SubSequence? {
        let view = buffer.readableBytesView
        guard let lf = view.firstIndex(of: 10) else {
            if view.count > limit { throw Malformed("a line of the response body framing is too long") }
            return nil
        }
        buffer.moveReaderIndex(forwardBy: lf - view.startIndex + 1)
        var line = view[view.startIndex..<lf]
        if line.last == 13 { line = line.dropLast() }
        return line
    }

    /// Drops up to `count` body bytes that have arrived; how many are still to come.
    private mutating func skip(_ count: Int64) -> Int64 {
        let skipped = min(Int64(buffer.readableBytes), count)
        buffer.moveReaderIndex(forwardBy: Int(skipped))
        if skipped < count { compact() }
        return count - skipped
    }

    /// Frees what was read once nothing unread is left, so a long-lived connection's buffer does not grow.
    private mutating func compact() {
        if buffer.readableBytes == 0 { buffer.clear() } else if buffer.readerIndex > 16 * 1024 { buffer.discardReadBytes() }
    }

    static func hasNoBody(_ status: Int) -> Bool { status == 204 || status == 304 || status < 200 }

    /// The index range of the blank line ending the head (CRLFCRLF, or bare LFs).
    static func endOfHead(_ raw: UnsafeRawBufferPointer) -> Range<Int>? {
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

    /// `HTTP/1.x SSS reason`: the minor version and the status, or nil.
    static func statusLine(_ line: Bytes) -> (minor: Int, status: Int)? {
        let b = line.startIndex
        guard line.count >= 12, line.count == 12 || line[b + 12] == 32, equalsLowercased(line.prefix(7), "http/1."),
              line[b + 7] == 48 || line[b + 7] == 49, line[b + 8] == 32,
              line[(b + 9)..<(b + 12)].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let status = line[(b + 9)..<(b + 12)].reduce(0) { $0 * 10 + Int($1 - 48) }
        guard status >= 100 else { return nil }
        return (Int(line[b + 7] - 48), status)
    }

    /// A chunk-size line: hexadecimal digits, then optional extensions after `;`.
    static func chunkSize(_ line: ByteBufferView.SubSequence) throws(Malformed) -> Int64 {
        let digits = line.prefix { $0 != UInt8(ascii: ";") }
        let hex = trimmed(digits[...])
        guard !hex.isEmpty, hex.count <= 15 else { throw Malformed("a chunk size is missing or too large") }
        var size: Int64 = 0
        for byte in hex {
            let digit: Int64
            switch byte {
            case 48...57: digit = Int64(byte - 48)
            case 65...70: digit = Int64(byte - 55)
            case 97...102: digit = Int64(byte - 87)
            default: throw Malformed("a chunk size is not hexadecimal")
            }
            size = size * 16 + digit
        }
        return size
    }

    static func trimmed<Bytes: BidirectionalCollection<UInt8>>(_ bytes: Bytes) -> Bytes.SubSequence {
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 32 || bytes[start] == 9 { bytes.formIndex(after: &start) }
        while end > start, bytes[bytes.index(before: end)] == 32 || bytes[bytes.index(before: end)] == 9 { bytes.formIndex(before: &end) }
        return bytes[start..<end]
    }

    /// `bytes` equals `lowercased` (ASCII, lower case) without regard to case.
    static func equalsLowercased(_ bytes: some Collection<UInt8>, _ lowercased: StaticString) -> Bool {
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
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"),
             UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"),
             UInt8(ascii: "~"): return true
        default: return false
        }
    }
}
