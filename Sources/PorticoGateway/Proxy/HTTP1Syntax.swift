import NIOCore

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

    /// Two field names are the same field (ASCII letters compared without regard to case, nothing else folded).
    static func sameFieldName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { lowered($0) == lowered($1) }
    }

    private static func lowered(_ byte: UInt8) -> UInt8 {
        byte >= 65 && byte <= 90 ? byte + 32 : byte
    }

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
