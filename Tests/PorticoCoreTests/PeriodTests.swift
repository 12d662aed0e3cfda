import PorticoCore
import Testing

@Suite struct PeriodTests {
    func t(_ s: String) -> Timestamp { Timestamp(iso8601: s)! }

    @Test func compactKeySuffixesMatchApisonator() {
        #expect(LimitPeriod.hour.keySuffix(containing: t("2025-04-23T17:30:00Z")) == "hour:2025042317")
        #expect(LimitPeriod.hour.keySuffix(containing: t("2016-01-02T10:00:00Z")) == "hour:201601021")
        #expect(LimitPeriod.minute.keySuffix(containing: t("2016-01-02T18:10:59Z")) == "minute:20160102181")
        #expect(LimitPeriod.day.keySuffix(containing: t("2016-01-20T23:59:59Z")) == "day:20160120")
        #expect(LimitPeriod.month.keySuffix(containing: t("2016-02-29T12:00:00Z")) == "month:20160201")
        #expect(LimitPeriod.year.keySuffix(containing: t("2016-07-04T00:00:00Z")) == "year:20160101")
        #expect(LimitPeriod.eternity.keySuffix(containing: t("2016-07-04T00:00:00Z")) == "eternity")
        // Weeks start on Monday; Sunday belongs to the week that began six days earlier.
        #expect(LimitPeriod.week.keySuffix(containing: t("2024-05-05T23:59:59Z")) == "week:20240429")
        #expect(LimitPeriod.week.keySuffix(containing: t("2024-05-06T00:00:00Z")) == "week:20240506")
    }

    @Test func boundariesAreCalendarAlignedInUTC() {
        let now = t("2010-05-15T13:45:10Z")
        #expect(LimitPeriod.month.start(containing: now) == t("2010-05-01T00:00:00Z"))
        #expect(LimitPeriod.month.end(containing: now) == t("2010-06-01T00:00:00Z"))
        #expect(LimitPeriod.year.end(containing: t("2010-12-31T23:59:59Z")) == t("2011-01-01T00:00:00Z"))
        #expect(LimitPeriod.month.end(containing: t("2010-12-31T23:59:59Z")) == t("2011-01-01T00:00:00Z"))
        #expect(LimitPeriod.week.start(containing: t("1970-01-01T00:00:00Z")) == t("1969-12-29T00:00:00Z"))
        #expect(LimitPeriod.minute.start(containing: t("1969-12-31T23:59:30Z")) == t("1969-12-31T23:59:00Z"))
        #expect(LimitPeriod.serviceManagementTime(t("2010-05-15T00:00:00Z")) == "2010-05-15 00:00:00 +0000")
    }

    /// Property: every instant lies in [start, end) of its period, and the end is the next period's start.
    @Test func everyInstantIsInsideItsPeriod() {
        var s: Int64 = 1_500_000_000
        while s < 1_900_000_000 {
            let now = Timestamp(secondsSinceEpoch: s)
            for p in LimitPeriod.allCases where p != .eternity {
                let start = p.start(containing: now), end = p.end(containing: now)
                #expect(start <= now && now < end, "\(p) at \(now.iso8601)")
                #expect(p.start(containing: end) == end, "\(p) end \(end.iso8601) is not a period start")
            }
            s += 999_983
        }
    }
}
