/// One metric's value in `usage[metric]=…`: an increment (`5`) or a set (`#5`), as apisonator parses it:
/// optional surrounding whitespace, an optional single `#`, then digits.
public enum UsageValue: Sendable, Equatable {
    case increment(Int64)
    case set(Int64)

    public init?(parsing raw: String) {
        if let plain = Self.plain(raw.utf8) {
            self = plain
            return
        }
        var s = Substring(raw)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        var isSet = false
        if s.first == "#" {
            isSet = true
            s.removeFirst()
        }
        guard !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int64(s) else { return nil }
        self = isSet ? .set(n) : .increment(n)
    }

    /// The common case without surrounding whitespace, read from the bytes: `[#]digits` that fit in 63 bits.
    /// nil sends anything else through the general parser above.
    private static func plain(_ bytes: String.UTF8View) -> UsageValue? {
        var i = bytes.startIndex
        guard i != bytes.endIndex else { return nil }
        let isSet = bytes[i] == UInt8(ascii: "#")
        if isSet { i = bytes.index(after: i) }
        guard i != bytes.endIndex, bytes.distance(from: i, to: bytes.endIndex) <= 18 else { return nil }
        var n: Int64 = 0
        while i != bytes.endIndex {
            let b = bytes[i]
            guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int64(b - UInt8(ascii: "0"))
            i = bytes.index(after: i)
        }
        return isSet ? .set(n) : .increment(n)
    }

    public var amount: Int64 {
        switch self {
        case .increment(let n), .set(let n): return n
        }
    }

    /// The counter after applying this value to `current`.
    public func applied(to current: Int64) -> Int64 {
        switch self {
        case .increment(let n): return current &+ n
        case .set(let n): return n
        }
    }
}
