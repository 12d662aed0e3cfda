/// Seconds since the Unix epoch, rendered as 3scale renders times: ISO-8601 in UTC without fractions.
public struct Timestamp: Codable, Sendable, Hashable, Comparable {
    public var secondsSinceEpoch: Int64

    public init(secondsSinceEpoch: Int64) { self.secondsSinceEpoch = secondsSinceEpoch }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.secondsSinceEpoch < rhs.secondsSinceEpoch }

    public init(from decoder: any Decoder) throws {
        secondsSinceEpoch = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(secondsSinceEpoch)
    }

    /// `2024-05-01T10:00:00Z`
    public var iso8601: String { formatted(separator: UInt8(ascii: "T"), suffix: "Z") }

    /// `YYYY-MM-DD<separator>HH:MM:SS<suffix>`, built as bytes: the Service Management API renders two of these
    /// per limit in every reply.
    public func formatted(separator: UInt8, suffix: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(19 + suffix.utf8.count)
        appendFormatted(separator: separator, suffix: suffix, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `formatted(separator:suffix:)` appended to a byte buffer.
    public func appendFormatted(separator: UInt8, suffix: String, to bytes: inout [UInt8]) {
        let days = secondsSinceEpoch >= 0 ? secondsSinceEpoch / 86_400 : (secondsSinceEpoch - 86_399) / 86_400
        let secondsOfDay = secondsSinceEpoch - days * 86_400
        let (year, month, day) = Timestamp.civil(fromDays: days)
        func digits(_ v: Int64, _ width: Int) {
            if width == 4, !(0...9999).contains(v) {
                bytes.append(contentsOf: String(v).utf8)
                return
            }
            var divisor: Int64 = width == 4 ? 1000 : 10
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
                divisor /= 10
            }
        }
        digits(year, 4)
        bytes.append(UInt8(ascii: "-"))
        digits(month, 2)
        bytes.append(UInt8(ascii: "-"))
        digits(day, 2)
        bytes.append(separator)
        digits(secondsOfDay / 3600, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondsOfDay % 3600 / 60, 2)
        bytes.append(UInt8(ascii: ":"))
        digits(secondsOfDay % 60, 2)
        bytes.append(contentsOf: suffix.utf8)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS` with an optional `Z` or `±HH:MM` offset, or a bare `YYYY-MM-DD`.
    public init?(iso8601 text: String) {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= b.count else { return nil }
            var v: Int64 = 0
            for i in range {
                guard (48...57).contains(b[i]) else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard let y = number(0..<4), b.count >= 10, b[4] == 45, let mo = number(5..<7), b[7] == 45, let d = number(8..<10),
            (1...12).contains(mo), (1...31).contains(d)
        else { return nil }
        var seconds = Timestamp.days(fromCivil: y, mo, d) * 86_400
        if b.count > 10 {
            guard b.count >= 19, b[10] == 84 || b[10] == 32, let h = number(11..<13), b[13] == 58, let mi = number(14..<16), b[16] == 58,
                let s = number(17..<19)
            else { return nil }
            seconds += h * 3600 + mi * 60 + s
            var rest = 19
            if rest < b.count, b[rest] == 46 {  // fractional seconds are ignored
                rest += 1
                while rest < b.count, (48...57).contains(b[rest]) { rest += 1 }
            }
            if rest < b.count {
                if b[rest] == 90, rest + 1 == b.count {
                } else if b[rest] == 43 || b[rest] == 45, let oh = number(rest + 1..<rest + 3), rest + 6 == b.count, b[rest + 3] == 58,
                    let om = number(rest + 4..<rest + 6)
                {
                    let offset = oh * 3600 + om * 60
                    seconds += b[rest] == 43 ? -offset : offset
                } else {
                    return nil
                }
            }
        }
        secondsSinceEpoch = seconds
    }

    // Howard Hinnant's days-from-civil algorithms (public domain arithmetic).
    public static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    public static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
