/// A value of the Redis serialization protocol (RESP2), the replies redis-server sends and the arrays of bulk
/// strings clients send as commands.
public enum RESPValue: Sendable, Equatable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    case null
    case array([RESPValue])

    /// A command as redis-server expects it: an array of bulk strings.
    public static func command(_ parts: [String]) -> RESPValue { .array(parts.map { .bulkString(Array($0.utf8)) }) }

    /// The text of a simple or bulk string, or the decimal form of an integer.
    public var string: String? {
        switch self {
        case .simpleString(let s): return s
        case .bulkString(let b): return String(decoding: b, as: UTF8.self)
        case .integer(let i): return String(i)
        default: return nil
        }
    }

    public var integer: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulkString, .simpleString: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var array: [RESPValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// Writes RESP values byte for byte as redis-server reads them.
public enum RESPEncoder {
    public static func encode(_ value: RESPValue, into out: inout [UInt8]) {
        switch value {
        case .simpleString(let s):
            out.append(UInt8(ascii: "+"))
            out.append(contentsOf: s.utf8)
            crlf(&out)
        case .error(let s):
            out.append(UInt8(ascii: "-"))
            out.append(contentsOf: s.utf8)
            crlf(&out)
        case .integer(let i):
            out.append(UInt8(ascii: ":"))
            out.append(contentsOf: String(i).utf8)
            crlf(&out)
        case .bulkString(let bytes):
            out.append(UInt8(ascii: "$"))
            out.append(contentsOf: String(bytes.count).utf8)
            crlf(&out)
            out.append(contentsOf: bytes)
            crlf(&out)
        case .null:
            out.append(contentsOf: "$-1\r\n".utf8)
        case .array(let items):
            out.append(UInt8(ascii: "*"))
            out.append(contentsOf: String(items.count).utf8)
            crlf(&out)
            for item in items { encode(item, into: &out) }
        }
    }

    /// A command without building `RESPValue`s first: the hot path of every request.
    public static func encodeCommand(_ parts: [String], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "*"))
        appendDecimal(parts.count, to: &out)
        crlf(&out)
        for part in parts {
            let utf8 = part.utf8
            out.append(UInt8(ascii: "$"))
            appendDecimal(utf8.count, to: &out)
            crlf(&out)
            // Native strings hand over their bytes in one copy; appending the view byte by byte showed in profiles.
            if utf8.withContiguousStorageIfAvailable({ out.append(contentsOf: $0) }) == nil { out.append(contentsOf: utf8) }
            crlf(&out)
        }
    }

    /// A count in decimal (never negative), without building a `String` for it.
    @inline(__always) static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: value))
            return
        }
        var divisor = 10
        while divisor <= value / 10 { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    @inline(__always) static func crlf(_ out: inout [UInt8]) {
        out.append(13)
        out.append(10)
    }
}

/// What is wrong with bytes that are not RESP; the connection that produced them cannot be trusted afterwards.
public struct RESPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// An incremental RESP decoder: feed it bytes as they arrive, take complete values out.
///
/// `next()` returns nil while the buffered bytes hold no complete value, so a reply split across reads at
/// any byte boundary decodes the same as one read (the decoder verifier test checks every split point).
public struct RESPDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var readIndex = 0
    /// Upper bounds that keep a hostile or corrupt peer from making us allocate without limit.
    public var maximumBulkLength = 512 * 1024 * 1024
    public var maximumArrayLength = 64 * 1024 * 1024
    public var maximumDepth = 64

    public init() {}

    public var bufferedByteCount: Int { buffer.count - readIndex }

    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if readIndex > 0, readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        } else if readIndex > 4096, readIndex * 2 > buffer.count {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete value, nil if more bytes are needed.
    public mutating func next() throws(RESPProtocolError) -> RESPValue? {
        var index = readIndex
        guard let value = try parse(at: &index, depth: 0) else { return nil }
        readIndex = index
        return value
    }

    private func line(at index: inout Int) throws(RESPProtocolError) -> ArraySlice<UInt8>? {
        var i = index
        while i + 1 < buffer.count {
            if buffer[i] == 13 {
                guard buffer[i + 1] == 10 else { throw RESPProtocolError("carriage return not followed by line feed") }
                let text = buffer[index..<i]
                index = i + 2
                return text
            }
            i += 1
        }
        return nil
    }

    private func number(_ text: ArraySlice<UInt8>) throws(RESPProtocolError) -> Int64 {
        guard !text.isEmpty, text.count <= 20 else { throw RESPProtocolError("invalid length or integer") }
        var negative = false
        var value: Int64 = 0
        var first = true
        for byte in text {
            if first, byte == UInt8(ascii: "-") {
                negative = true
                first = false
                continue
            }
            first = false
            guard byte >= 48, byte <= 57 else { throw RESPProtocolError("invalid length or integer") }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(byte - 48))
            guard !o1, !o2 else { throw RESPProtocolError("integer out of range") }
            value = a
        }
        if negative, text.count == 1 { throw RESPProtocolError("invalid length or integer") }
        return negative ? -value : value
    }

    private func parse(at index: inout Int, depth: Int) throws(RESPProtocolError) -> RESPValue? {
        guard depth <= maximumDepth else { throw RESPProtocolError("arrays nested too deeply") }
        guard index < buffer.count else { return nil }
        let type = buffer[index]
        var i = index + 1
        guard let header = try line(at: &i) else { return nil }
        switch type {
        case UInt8(ascii: "+"):
            index = i
            return .simpleString(String(decoding: header, as: UTF8.self))
        case UInt8(ascii: "-"):
            index = i
            return .error(String(decoding: header, as: UTF8.self))
        case UInt8(ascii: ":"):
            let n = try number(header)
            index = i
            return .integer(n)
        case UInt8(ascii: "$"):
            let length = try number(header)
            if length == -1 {
                index = i
                return .null
            }
            guard length >= 0, length <= maximumBulkLength else { throw RESPProtocolError("invalid bulk string length \(length)") }
            let end = i + Int(length)
            guard end + 2 <= buffer.count else { return nil }
            guard buffer[end] == 13, buffer[end + 1] == 10 else { throw RESPProtocolError("bulk string not terminated by CRLF") }
            index = end + 2
            return .bulkString(Array(buffer[i..<end]))
        case UInt8(ascii: "*"):
            let count = try number(header)
            if count == -1 {
                index = i
                return .null
            }
            guard count >= 0, count <= maximumArrayLength else { throw RESPProtocolError("invalid array length \(count)") }
            var items: [RESPValue] = []
            items.reserveCapacity(Int(min(count, 1024)))
            for _ in 0..<count {
                guard let item = try parse(at: &i, depth: depth + 1) else { return nil }
                items.append(item)
            }
            index = i
            return .array(items)
        default:
            throw RESPProtocolError("unknown RESP type byte \(type)")
        }
    }
}
