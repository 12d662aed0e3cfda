import NIOCore

/// Decoded `name=value` arguments of a query string or an `application/x-www-form-urlencoded` body, in order.
public struct RequestArguments: Sendable, Equatable {
    public private(set) var pairs: [(name: String, value: String)]

    public init() { pairs = [] }

    public init(pairs: [(String, String)]) { self.pairs = pairs.map { (name: $0.0, value: $0.1) } }

    public init<Bytes: Collection>(encoded: Bytes) where Bytes.Element == UInt8 {
        pairs = []
        // Parts between `&`s, found in place (this runs for every request's query).
        var start = encoded.startIndex
        while start < encoded.endIndex {
            let end = encoded[start...].firstIndex(of: UInt8(ascii: "&")) ?? encoded.endIndex
            let part = encoded[start..<end]
            if !part.isEmpty {
                if let eq = part.firstIndex(of: UInt8(ascii: "=")) {
                    pairs.append((RequestArguments.decode(part[part.startIndex..<eq]), RequestArguments.decode(part[part.index(after: eq)...])))
                } else {
                    pairs.append((RequestArguments.decode(part), ""))
                }
            }
            start = end == encoded.endIndex ? end : encoded.index(after: end)
        }
    }

    public static func == (lhs: RequestArguments, rhs: RequestArguments) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0.name == $1.name && $0.value == $1.value }
    }

    /// The last value of an argument (what a rule compares), exact name.
    public func last(_ name: String) -> String? { pairs.last { $0.name == name }?.value }

    /// The first value whose name matches case-insensitively (nginx's `$arg_name`).
    public func first(caseInsensitive name: String) -> String? {
        let lowered = name.lowercased()
        return pairs.first { $0.name.lowercased() == lowered }?.value
    }

    /// These arguments with `overrides` taking precedence for the names they hold.
    public func merged(overriddenBy overrides: RequestArguments) -> RequestArguments {
        guard !overrides.pairs.isEmpty else { return self }
        let names = Set(overrides.pairs.map(\.name))
        var merged = RequestArguments()
        merged.pairs = pairs.filter { !names.contains($0.name) } + overrides.pairs
        return merged
    }

    /// Percent-decoding with `+` as space; invalid escapes stay as they are.
    static func decode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        // Most names and values have nothing to decode: no buffer in between then.
        if !bytes.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i != bytes.endIndex {
            let b = bytes[i]
            if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%") {
                let h = bytes.index(after: i)
                if h != bytes.endIndex, bytes.index(after: h) != bytes.endIndex,
                   let hi = RequestPath.hexValue(bytes[h]), let lo = RequestPath.hexValue(bytes[bytes.index(after: h)]) {
                    out.append(hi << 4 | lo)
                    i = bytes.index(after: bytes.index(after: h))
                    continue
                }
                out.append(b)
            } else {
                out.append(b)
            }
            i = bytes.index(after: i)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `application/x-www-form-urlencoded` encoding of one value (RFC 3986 unreserved characters kept). Most
    /// values (keys, ids, metric names) need no escaping and are returned as they are.
    public static func encode(_ s: String) -> String {
        if s.utf8.allSatisfy(isUnreserved) { return s }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(s.utf8.count * 3)
        writeEncoded(s, into: &buffer)
        return String(buffer: buffer)
    }

    /// `name=value&…` with both sides encoded, built in one buffer (metering calls, forwarded queries).
    public static func encode(pairs: [(String, String)]) -> String {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(pairs.count * 24)
        write(pairs: pairs, into: &buffer)
        return String(buffer: buffer)
    }

    /// `name=value&…` with both sides encoded, written straight into `buffer` (a metering call's query).
    public static func write(pairs: [(String, String)], into buffer: inout ByteBuffer) {
        for (index, pair) in pairs.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: "&")) }
            writeEncoded(pair.0, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "="))
            writeEncoded(pair.1, into: &buffer)
        }
    }

    static func writeEncoded(_ s: String, into buffer: inout ByteBuffer) {
        // A native string's bytes are read in place (walking the UTF-8 view checks its representation per byte).
        let done: Void? = s.utf8.withContiguousStorageIfAvailable { writeEncoded($0, into: &buffer) }
        if done == nil { Array(s.utf8).withUnsafeBufferPointer { writeEncoded($0, into: &buffer) } }
    }

    static func writeEncoded(_ utf8: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer) {
        if utf8.allSatisfy(isUnreserved) {
            buffer.writeBytes(utf8)
            return
        }
        // Written through one pointer into room reserved for the worst case (every byte escaped): a write per
        // byte checked capacity and exclusivity each time, and metering calls escape `usage[…]` on every request.
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: utf8.count * 3) { room in
            var at = 0
            for b in utf8 {
                if isUnreserved(b) {
                    room[at] = b
                    at += 1
                } else {
                    room[at] = UInt8(ascii: "%")
                    room[at + 1] = hexDigit(b >> 4)
                    room[at + 2] = hexDigit(b & 0x0F)
                    at += 3
                }
            }
            return at
        }
    }

    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "A") + nibble - 10 }
}
