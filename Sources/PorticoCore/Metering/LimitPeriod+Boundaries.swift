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

    static func compact(_ t: Timestamp) -> String {
        let days = floorDiv(t.secondsSinceEpoch, 86_400)
        let (y, m, d) = Timestamp.civil(fromDays: days)
        let sod = t.secondsSinceEpoch - days * 86_400
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        var text = pad(y, 4) + pad(m, 2) + pad(d, 2) + pad(sod / 3600, 2) + pad(sod % 3600 / 60, 2) + pad(sod % 60, 2)
        var removed = 0
        while removed < 6, text.hasSuffix("0") {
            text.removeLast()
            removed += 1
        }
        return text
    }

    /// `2010-05-15 00:00:00 +0000`, the time format of the Service Management API.
    public static func serviceManagementTime(_ t: Timestamp) -> String {
        let iso = t.iso8601  // 2010-05-15T00:00:00Z
        return String(iso.prefix(10)) + " " + String(iso.dropFirst(11).prefix(8)) + " +0000"
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }
}
