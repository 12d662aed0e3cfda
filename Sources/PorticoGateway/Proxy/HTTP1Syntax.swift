import NIOCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-level pieces of HTTP/1.1's syntax (RFC 9110, 9112) shared by the readers and writers of the gateway's wire
/// format.
public enum HTTP1Syntax {
    /// The index range of the blank line ending a head (CRLFCRLF, or bare LFs), looked for from `from` on; nil if it
    /// has not arrived. A reader gives the `from` that `endOfHeadResume` told it when it last looked at the same bytes,
    /// so a head that arrives in many small pieces is scanned once rather than once per piece (which a client could
    /// make quadratic).
    public static func endOfHead(_ raw: UnsafeRawBufferPointer, from: Int = 0) -> Range<Int>? {
        guard let base = raw.baseAddress else { return nil }
        let count = raw.count
        var i = max(0, from)
        while i < count, let found = memchr(base + i, 10, count - i) {
            let lf = base.distance(to: UnsafeRawPointer(found))
            if lf + 1 < count, raw[lf + 1] == 10 { return lf..<(lf + 2) }
            if lf + 2 < count, raw[lf + 1] == 13, raw[lf + 2] == 10 { return lf..<(lf + 3) }
            i = lf + 1
        }
        return nil
    }

    /// Where to look for the end of a head in `count` bytes that did not hold it, once more arrive: an LF in the last
    /// two could still start the blank line.
    public static func endOfHeadResume(count: Int) -> Int { max(0, count - 2) }

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

    /// RFC 9110 `tchar` as bits: bit n of `tokenBitsLow` for byte n, of `tokenBitsHigh` for byte 64 + n (a test
    /// checks them against the RFC's list). Every header name of every request and response is checked with it.
    static let tokenBitsLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenBitsHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    /// RFC 9110 `tchar`.
    @inline(__always)
    public static func isTokenCharacter(_ byte: UInt8) -> Bool {
        if byte < 64 { return (tokenBitsLow >> UInt64(byte)) & 1 != 0 }
        return byte < 128 && (tokenBitsHigh >> UInt64(byte &- 64)) & 1 != 0
    }

    typealias Bytes = Slice<UnsafeRawBufferPointer>

    /// The lines of a head before `end` (the start of the empty line that ends it), each as the range of its bytes
    /// without its CRLF or LF.
    struct HeadLines: IteratorProtocol {
        let raw: UnsafeRawBufferPointer
        let end: Int
        var start = 0

        init(_ raw: UnsafeRawBufferPointer, before end: Int) {
            self.raw = raw
            self.end = end
        }

        mutating func next() -> Range<Int>? {
            guard start < end else { return nil }
            var lineEnd = start
            // The head ends with an LF, so every line before `end` has one.
            while raw[lineEnd] != 10 { lineEnd += 1 }
            let line = start..<(lineEnd > start && raw[lineEnd - 1] == 13 ? lineEnd - 1 : lineEnd)
            start = lineEnd + 1
            return line
        }
    }

    /// The bytes a header value may hold: a request's (visible ASCII, spaces, tabs and obs-text) or a response's
    /// (anything but CR, LF and NUL, as nginx passes them).
    enum ValueBytes {
        case request
        case response

        @inline(__always)
        func allows(_ byte: UInt8) -> Bool {
            switch self {
            case .request: return byte >= 32 && byte != 127 || byte == 9
            case .response: return byte > 13 || (byte != 0 && byte != 10 && byte != 13)
            }
        }
    }

    /// A header line's name (a token, right before the colon: whitespace there or a folded line is refused) and its
    /// value without surrounding whitespace, whose bytes must all be allowed by `values`. Works on the bytes in place
    /// (once per field of every request and response).
    static func splitField(_ raw: UnsafeRawBufferPointer, _ line: Range<Int>, values: ValueBytes) -> Result<(name: Bytes, value: Bytes), HTTP1Malformed> {
        var colon = line.lowerBound
        while colon < line.upperBound {
            let byte = raw[colon]
            if byte == UInt8(ascii: ":") { break }
            guard isTokenCharacter(byte) else {
                // A line with no colon at all is named for that, not for the byte that stopped the name.
                if !raw[colon..<line.upperBound].contains(UInt8(ascii: ":")) { return .failure(HTTP1Malformed("header line has no field name")) }
                return .failure(HTTP1Malformed("header field name is not a token"))
            }
            colon += 1
        }
        guard colon < line.upperBound, colon > line.lowerBound else { return .failure(HTTP1Malformed("header line has no field name")) }
        var start = colon + 1, end = line.upperBound
        while start < end, raw[start] == 32 || raw[start] == 9 { start += 1 }
        while end > start, raw[end - 1] == 32 || raw[end - 1] == 9 { end -= 1 }
        var i = start
        while i < end {
            guard values.allows(raw[i]) else { return .failure(HTTP1Malformed("header value holds a control character")) }
            i += 1
        }
        return .success((raw[line.lowerBound..<colon], raw[start..<end]))
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
    /// An empty buffer to hold instead of one whose bytes were all read (assigning it allocates nothing).
    static let noBytes = ByteBuffer()
    /// The last chunk of a chunked body, with no trailers.
    static let lastChunk = ByteBuffer(staticString: "0\r\n\r\n")

    /// Two field names are the same field (ASCII letters compared without regard to case, nothing else folded).
    public static func sameFieldName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8) { lowered($0) == lowered($1) }
    }

    private static func lowered(_ byte: UInt8) -> UInt8 {
        byte >= 65 && byte <= 90 ? byte + 32 : byte
    }

    /// A header field name that can go on the wire: a non-empty token.
    public static func isValidFieldName(_ name: String) -> Bool {
        let checked = name.utf8.withContiguousStorageIfAvailable { bytes in !bytes.isEmpty && bytes.allSatisfy(isTokenCharacter) }
        return checked ?? (!name.utf8.isEmpty && name.utf8.allSatisfy(isTokenCharacter))
    }

    /// A header field value that can go on the wire: no CR, LF or NUL (which would end the field or the head).
    public static func isValidFieldValue(_ value: String) -> Bool {
        let checked = value.utf8.withContiguousStorageIfAvailable { bytes in bytes.allSatisfy(ValueBytes.response.allows) }
        return checked ?? value.utf8.allSatisfy(ValueBytes.response.allows)
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
        // Most fields are none of the three: their length tells at once.
        let nameLength = name.count
        guard nameLength == 14 || nameLength == 17 || nameLength == 10 else { return nil }
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
