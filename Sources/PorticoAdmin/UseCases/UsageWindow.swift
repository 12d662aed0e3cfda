import PorticoCore

/// The time window of an analytics query, as porta computes it (`Stats::Views::Usage`): either `period`
/// (year, month, week, day) from `since` (default: one period ago), or `since`..`until` with a `granularity`;
/// the window is widened to whole granularity steps. Times are UTC, like apisonator's counters.
struct UsageWindow: Sendable {
    enum Period: String, Sendable {
        case year, month, week, day

        var limitPeriod: LimitPeriod {
            switch self {
            case .year: return .year
            case .month: return .month
            case .week: return .week
            case .day: return .day
            }
        }

        /// porta's default granularity for each period.
        var defaultGranularity: Granularity {
            switch self {
            case .year: return .month
            case .month: return .day
            case .week: return .sixHours
            case .day: return .hour
            }
        }
    }

    enum Granularity: Sendable, Equatable {
        case month, day, hour, sixHours

        init?(_ text: String) {
            switch text {
            case "month": self = .month
            case "day": self = .day
            case "hour": self = .hour
            case "21600", "6h": self = .sixHours
            default: return nil
            }
        }

        var jsonName: JSONValue {
            switch self {
            case .month: return "month"
            case .day: return "day"
            case .hour: return "hour"
            case .sixHours: return .int(21_600)
            }
        }

        /// The counter period read for each step, and how many of them make one step.
        var counterPeriod: LimitPeriod { self == .month ? .month : self == .day ? .day : .hour }

        /// porta's `ALLOWED_TIME_RANGES`.
        var maximumSpanSeconds: Int64 {
            switch self {
            case .month: return 10 * 366 * 86_400
            case .day: return 366 * 86_400
            case .sixHours: return 183 * 86_400
            case .hour: return 90 * 86_400
            }
        }

        func start(containing t: Timestamp) -> Timestamp {
            if self == .sixHours {
                let day = LimitPeriod.day.start(containing: t).secondsSinceEpoch
                return Timestamp(secondsSinceEpoch: day + (t.secondsSinceEpoch - day) / 21_600 * 21_600)
            }
            return counterPeriod.start(containing: t)
        }

        func next(after t: Timestamp) -> Timestamp {
            self == .sixHours ? Timestamp(secondsSinceEpoch: t.secondsSinceEpoch + 21_600) : counterPeriod.end(containing: t)
        }
    }

    var periodName: String?
    var since: Timestamp
    /// Inclusive, the last second of the window.
    var until: Timestamp
    var granularity: Granularity
    var skipChange: Bool

    init(since: Timestamp, until: Timestamp, granularity: Granularity, periodName: String?, skipChange: Bool) {
        self.since = granularity.start(containing: since)
        self.until = Timestamp(secondsSinceEpoch: granularity.next(after: granularity.start(containing: until)).secondsSinceEpoch - 1)
        self.granularity = granularity
        self.periodName = periodName
        self.skipChange = skipChange
    }

    init(_ params: Parameters, now: Timestamp) throws {
        try Self.requireUTC(params)
        let skipChange = params.string("skip_change") != "false"
        var granularity: Granularity?
        if let raw = params.nonEmpty("granularity") {
            guard let g = Granularity(raw) else {
                throw AdminError(.badRequest("Granularity must be one of [\"month\", \"day\", \"hour\", 21600], not \(raw)"))
            }
            granularity = g
        }
        if let raw = params.nonEmpty("period") {
            guard let period = Period(rawValue: raw) else {
                throw AdminError(.badRequest("Period must be one of [\"year\", \"month\", \"week\", \"day\"] not \"\(raw)\""))
            }
            let since = try params.nonEmpty("since").map { try Self.parseTime($0) } ?? Self.advance(now, by: period, times: -1)
            var until = Timestamp(secondsSinceEpoch: Self.advance(since, by: period, times: 1).secondsSinceEpoch - 1)
            until = Timestamp(secondsSinceEpoch: LimitPeriod.minute.end(containing: until).secondsSinceEpoch - 1)
            self.init(since: since, until: until, granularity: granularity ?? period.defaultGranularity, periodName: raw, skipChange: skipChange)
        } else {
            guard let granularity else { throw AdminError(.badRequest("Missing key(s): granularity")) }
            guard let sinceText = params.nonEmpty("since"), let untilText = params.nonEmpty("until") else {
                throw AdminError(.badRequest("You need to specify either 'period' or 'since' and 'until'"))
            }
            let since = try Self.parseTime(sinceText), until = try Self.parseTime(untilText)
            guard since <= until else { throw AdminError(.badRequest("'since' must not be after 'until'")) }
            self.init(since: since, until: until, granularity: granularity, periodName: nil, skipChange: skipChange)
        }
        if until.secondsSinceEpoch - since.secondsSinceEpoch > self.granularity.maximumSpanSeconds {
            throw AdminError(.badRequest("Time range for the granularity must be less than \(self.granularity.maximumSpanSeconds / 86_400) days"))
        }
    }

    /// Per step of the window, the counters (period and time) whose sum is the step's value.
    func buckets() -> [[(period: LimitPeriod, at: Timestamp)]] {
        var out: [[(period: LimitPeriod, at: Timestamp)]] = []
        var t = since
        while t <= until {
            if granularity == .sixHours {
                out.append((0..<6).map { (.hour, Timestamp(secondsSinceEpoch: t.secondsSinceEpoch + Int64($0) * 3600)) })
            } else {
                out.append([(granularity.counterPeriod, t)])
            }
            t = granularity.next(after: t)
        }
        return out
    }

    /// The window of the same length just before this one (porta's `range.previous`).
    func previousWindow() -> UsageWindow {
        let length = until.secondsSinceEpoch - since.secondsSinceEpoch + 1
        return UsageWindow(since: Timestamp(secondsSinceEpoch: since.secondsSinceEpoch - length), until: Timestamp(secondsSinceEpoch: since.secondsSinceEpoch - 1),
                           granularity: granularity, periodName: periodName, skipChange: true)
    }

    /// Counters are kept in UTC buckets; other zones would need hour-shifted reads that are not implemented.
    static func requireUTC(_ params: Parameters) throws {
        guard let zone = params.nonEmpty("timezone") else { return }
        guard ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"].contains(zone) else {
            throw AdminError(.badRequest("timezone \(zone) is not supported yet; analytics are served in UTC (omit timezone or pass UTC)"))
        }
    }

    /// `since`/`until`: `2012-02-22`, `2012-02-22 23:49[:00]` (UTC) or ISO 8601 with an offset.
    static func parseTime(_ text: String) throws -> Timestamp {
        if let t = Timestamp(iso8601: text) { return t }
        let digits = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == ":" || $0 == "T" }).map { Int64($0) }
        guard digits.count >= 3, digits.count <= 6, digits.allSatisfy({ $0 != nil }) else {
            throw AdminError(.badRequest("Date parameters should have valid date/time format."))
        }
        let v = digits.map { $0! } + Array(repeating: 0, count: 6 - digits.count)
        guard (1...12).contains(v[1]), (1...31).contains(v[2]), v[3] < 24, v[4] < 60, v[5] < 60 else {
            throw AdminError(.badRequest("Date parameters should have valid date/time format."))
        }
        return Timestamp(secondsSinceEpoch: Timestamp.days(fromCivil: v[0], v[1], v[2]) * 86_400 + v[3] * 3600 + v[4] * 60 + v[5])
    }

    /// `t` moved by whole periods, keeping the day of month where it exists (Rails' `1.month` arithmetic).
    static func advance(_ t: Timestamp, by period: Period, times: Int64) -> Timestamp {
        switch period {
        case .day: return Timestamp(secondsSinceEpoch: t.secondsSinceEpoch + times * 86_400)
        case .week: return Timestamp(secondsSinceEpoch: t.secondsSinceEpoch + times * 7 * 86_400)
        case .month, .year:
            let days = t.secondsSinceEpoch >= 0 ? t.secondsSinceEpoch / 86_400 : (t.secondsSinceEpoch - 86_399) / 86_400
            let secondOfDay = t.secondsSinceEpoch - days * 86_400
            let (y, m, d) = Timestamp.civil(fromDays: days)
            let months = (period == .year ? 12 : 1) * times
            let index = y * 12 + (m - 1) + months
            let ny = index >= 0 ? index / 12 : (index - 11) / 12
            let nm = index - ny * 12 + 1
            let lastDay = Timestamp.days(fromCivil: nm == 12 ? ny + 1 : ny, nm == 12 ? 1 : nm + 1, 1) - Timestamp.days(fromCivil: ny, nm, 1)
            return Timestamp(secondsSinceEpoch: Timestamp.days(fromCivil: ny, nm, min(d, lastDay)) * 86_400 + secondOfDay)
        }
    }
}
