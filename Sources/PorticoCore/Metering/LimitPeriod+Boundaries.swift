/// Calendar periods as apisonator computes them: UTC, calendar-aligned, weeks from Monday.
extension LimitPeriod {
    /// Longest first, the order usage reports are listed in.
    public static let longestFirst: [LimitPeriod] = [.eternity, .year, .month, .week, .day, .hour, .minute]

    /// Start of the period instance that contains `t` (1970-01-01 for eternity).
    public func start(containing t: Timestamp) -> Timestamp {
        let s = t.secondsSinceEpoch
        let day = LimitPeriod.floorDiv(s, 86_400)
        switch self {
        case .eternity: return Timestamp(secondsSinceEpoch: 0)
        case .minute: return Timestamp(secondsSinceEpoch: LimitPeriod.floorDiv(s, 60) * 60)
        case .hour: return Timestamp(secondsSinceEpoch: LimitPeriod.floorDiv(s, 3600) * 3600)
        case .day: return Timestamp(secondsSinceEpoch: day * 86_400)
        case .week:
            // 1970-01-01 was a Thursday: days since the Monday before it (1969-12-29) modulo 7.
            let sinceMonday = LimitPeriod.floorMod(day + 3, 7)
            return Timestamp(secondsSinceEpoch: (day - sinceMonday) * 86_400)
        case .month:
            let (y, m, _) = Timestamp.civil(fromDays: day)
            return Timestamp(secondsSinceEpoch: Timestamp.days(fromCivil: y, m, 1) * 86_400)
        case .year:
            let (y, _, _) = Timestamp.civil(fromDays: day)
            return Timestamp(secondsSinceEpoch: Timestamp.days(fromCivil: y, 1, 1) * 86_400)
        }
    }

    /// Exclusive end of the period instance that contains `t` (9999-12-31 for eternity).
    public func end(containing t: Timestamp) -> Timestamp {
        let start = self.start(containing: t).secondsSinceEpoch
        switch self {
        case .eternity: return Timestamp(secondsSinceEpoch: 253_402_214_400)  // 9999-12-31 00:00:00
        case .minute: return Timestamp(secondsSinceEpoch: start + 60)
        case .hour: return Timestamp(secondsSinceEpoch: start + 3600)
        case .day: return Timestamp(secondsSinceEpoch: start + 86_400)
        case .week: return Timestamp(secondsSinceEpoch: start + 7 * 86_400)
        case .month:
            let (y, m, _) = Timestamp.civil(fromDays: start / 86_400)
            let (ny, nm) = m == 12 ? (y + 1, Int64(1)) : (y, m + 1)
            return Timestamp(secondsSinceEpoch: Timestamp.days(fromCivil: ny, nm, 1) * 86_400)
        case .year:
            let (y, _, _) = Timestamp.civil(fromDays: start / 86_400)
            return Timestamp(secondsSinceEpoch: Timestamp.days(fromCivil: y + 1, 1, 1) * 86_400)
        }
    }

    /// apisonator's key suffix: `eternity`, or `{period}:{compact start}` where the compact start is
    /// `YYYYMMDDhhmmss` with up to six trailing zeros removed (not fixed width: hour 2016-01-02 10:00 is `201601021`).
    public func keySuffix(containing t: Timestamp) -> String {
        guard self != .eternity else { return "eternity" }
        return "\(rawValue):\(LimitPeriod.compact(start(containing: t)))"
    }

    /// Built as bytes: it is computed for every counter key of every transaction.
    static func compact(_ t: Timestamp) -> String {
        let days = floorDiv(t.secondsSinceEpoch, 86_400)
        let (y, m, d) = Timestamp.civil(fromDays: days)
        let sod = t.secondsSinceEpoch - days * 86_400
        var digits: [UInt8] = []
        digits.reserveCapacity(16)
        if y < 0 || y > 9999 {
            digits.append(contentsOf: String(y).utf8)
        } else {
            append(y, width: 4, to: &digits)
        }
        append(m, width: 2, to: &digits)
        append(d, width: 2, to: &digits)
        append(sod / 3600, width: 2, to: &digits)
        append(sod % 3600 / 60, width: 2, to: &digits)
        append(sod % 60, width: 2, to: &digits)
        var removed = 0
        while removed < 6, digits.last == UInt8(ascii: "0") {
            digits.removeLast()
            removed += 1
        }
        return String(decoding: digits, as: UTF8.self)
    }

    private static func append(_ value: Int64, width: Int, to out: inout [UInt8]) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var v = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(v / divisor % 10))
            v %= divisor
            divisor /= 10
        }
    }

    /// `2010-05-15 00:00:00 +0000`, the time format of the Service Management API.
    public static func serviceManagementTime(_ t: Timestamp) -> String {
        t.formatted(separator: UInt8(ascii: " "), suffix: " +0000")
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
}
