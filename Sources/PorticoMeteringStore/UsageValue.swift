/// One metric's value in `usage[metric]=…`: an increment (`5`) or a set (`#5`), as apisonator parses it:
/// optional surrounding whitespace, an optional single `#`, then digits.
public enum UsageValue: Sendable, Equatable {
    case increment(Int64)
    case set(Int64)

    public init?(parsing raw: String) {
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
