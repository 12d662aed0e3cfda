import PorticoCore
import PorticoMeteringStore
import Testing

@Suite struct LimitEvaluationTests {
    let now = Timestamp(iso8601: "2010-05-15T13:00:00Z")!
    let tree = MetricHierarchy([
        MeteredMetric(id: "1", name: "hits", parentID: nil),
        MeteredMetric(id: "2", name: "search", parentID: "1"),
        MeteredMetric(id: "3", name: "update", parentID: "1"),
        MeteredMetric(id: "4", name: "storage", parentID: nil),
    ])

    @Test func usageValuesParseAsApisonatorDoes() {
        #expect(UsageValue(parsing: " 5 ") == .increment(5))
        #expect(UsageValue(parsing: "#7") == .set(7))
        for bad in ["-1", "##3", "#", "-#55", "tons!", "", " ", "1.5"] { #expect(UsageValue(parsing: bad) == nil, "\(bad)") }
    }

    /// Property: the byte-level fast path and the general parser agree with apisonator's rule on any input
    /// (whitespace around, one optional `#`, ASCII digits that fit in 64 bits).
    @Test func usageValueParsingMatchesTheRuleOnRandomInput() {
        let alphabet: [Character] = ["0", "1", "9", "#", " ", "\t", "-", "+", "x", "٣", "\u{2003}"]
        func reference(_ raw: String) -> UsageValue? {
            var s = Substring(raw)
            while let f = s.first, f.isWhitespace { s.removeFirst() }
            while let l = s.last, l.isWhitespace { s.removeLast() }
            let isSet = s.first == "#"
            if isSet { s.removeFirst() }
            guard !s.isEmpty, s.unicodeScalars.allSatisfy({ $0.value >= 48 && $0.value <= 57 }), let n = Int64(s) else { return nil }
            return isSet ? .set(n) : .increment(n)
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...22, using: &rng)
            let digitsOnly = Bool.random(using: &rng)
            let raw = String((0..<length).map { _ in digitsOnly ? alphabet[Int.random(in: 0...2, using: &rng)] : alphabet.randomElement(using: &rng)! })
            #expect(UsageValue(parsing: raw) == reference(raw), "\(raw.debugDescription)")
        }
        #expect(UsageValue(parsing: "9223372036854775807") == .increment(Int64.max))
        #expect(UsageValue(parsing: "9223372036854775808") == nil)
        #expect(UsageValue(parsing: "#000000000000000042") == .set(42))
    }

    @Test func incrementsPropagateToAncestorsAndSetsOverwriteThem() throws {
        let inc = try LimitEvaluation.process([("hits", "1"), ("search", "1")], hierarchy: tree, flat: false)
        #expect(inc == ["1": .increment(2), "2": .increment(1)])
        let set = try LimitEvaluation.process([("search", "#5"), ("update", "#3")], hierarchy: tree, flat: false)
        #expect(set["1"] == .set(3))  // the last child processed wins
        let flat = try LimitEvaluation.process([("search", "1")], hierarchy: tree, flat: true)
        #expect(flat == ["2": .increment(1)])
        #expect(throws: UsageError.unknownMetric("nope")) { _ = try LimitEvaluation.process([("nope", "1")], hierarchy: tree, flat: false) }
        #expect(throws: UsageError.invalidValue(metric: "hits", value: "x")) { _ = try LimitEvaluation.process([("hits", "x")], hierarchy: tree, flat: false) }
    }

    @Test func ancestorsAreWalkedUpToTheRootAndStopAtCycles() {
        let deep = MetricHierarchy([
            MeteredMetric(id: "1", name: "hits", parentID: nil),
            MeteredMetric(id: "2", name: "search", parentID: "1"),
            MeteredMetric(id: "3", name: "search_deep", parentID: "2"),
            MeteredMetric(id: "4", name: "orphan", parentID: "99"),
            MeteredMetric(id: "5", name: "a", parentID: "6"),
            MeteredMetric(id: "6", name: "b", parentID: "5"),
        ])
        #expect(deep.ancestors(of: "3") == ["2", "1"])
        #expect(deep.ancestors(of: "1") == [])
        #expect(deep.ancestors(of: "4") == ["99"])  // a parent id that is not a metric is still reported, as before
        #expect(deep.ancestors(of: "5") == ["6"])
        #expect(deep.ancestors(of: "6") == ["5"])
        #expect(deep.ancestors(of: "unknown") == [])
    }

    func evaluate(_ limits: [PlanLimit], stored: [String: Int64], usage: [(String, String)]?, recording: Bool = false) throws -> LimitEvaluation.Outcome {
        let processed = try usage.map { try LimitEvaluation.process($0.map { (name: $0.0, value: $0.1) }, hierarchy: tree, flat: false) }
        return LimitEvaluation.evaluate(limits: limits, hierarchy: tree, stored: { id, period in stored["\(id)/\(period.rawValue)"] ?? 0 },
                                        usage: processed, recording: recording, now: now)
    }

    @Test func theNPlusFirstCallIsRejected() throws {
        let limits = [PlanLimit(metricID: "1", period: .day, maxValue: 3)]
        #expect(try evaluate(limits, stored: ["1/day": 2], usage: [("hits", "1")]).authorized)
        #expect(try !evaluate(limits, stored: ["1/day": 3], usage: [("hits", "1")]).authorized)
        // At exactly the maximum a usage-less authorize (or usage 0) still passes; above it, it does not.
        #expect(try evaluate(limits, stored: ["1/day": 3], usage: nil).authorized)
        #expect(try evaluate(limits, stored: ["1/day": 3], usage: [("hits", "0")]).authorized)
        #expect(try !evaluate(limits, stored: ["1/day": 4], usage: nil).authorized)
    }

    @Test func limitsOnOtherMetricsAreIgnoredButParentsBlockChildren() throws {
        let limits = [PlanLimit(metricID: "3", period: .day, maxValue: 1), PlanLimit(metricID: "1", period: .month, maxValue: 10)]
        #expect(try evaluate(limits, stored: ["3/day": 5], usage: [("search", "1")]).authorized)
        #expect(try !evaluate(limits, stored: ["1/month": 10], usage: [("search", "1")]).authorized)
        let disabled = [PlanLimit(metricID: "4", period: .eternity, maxValue: 0)]
        #expect(try !evaluate(disabled, stored: [:], usage: [("storage", "1")]).authorized)
        #expect(try evaluate(disabled, stored: [:], usage: nil).authorized)
        #expect(try !evaluate([PlanLimit(metricID: "1", period: .day, maxValue: 4)], stored: [:], usage: [("hits", "#5")]).authorized)
    }

    @Test func reportsAreOrderedAndShowTheRequestsUsageOnlyWhenRecorded() throws {
        let limits = [PlanLimit(metricID: "1", period: .day, maxValue: 100), PlanLimit(metricID: "1", period: .month, maxValue: 10_000)]
        let authrep = try evaluate(limits, stored: ["1/day": 1, "1/month": 4], usage: [("hits", "1")], recording: true)
        #expect(authrep.reports.map(\.period) == [.month, .day])
        #expect(authrep.reports.map(\.shownValue) == [5, 2])
        let authorize = try evaluate(limits, stored: ["1/day": 1, "1/month": 4], usage: [("hits", "1")])
        #expect(authorize.reports.map(\.shownValue) == [4, 1])
    }

    @Test func limitHeadersPickTheMostConstrainedLimit() throws {
        let limits = [PlanLimit(metricID: "1", period: .minute, maxValue: 10), PlanLimit(metricID: "1", period: .year, maxValue: 1000)]
        let processed = try LimitEvaluation.process([("hits", "2")], hierarchy: tree, flat: false)
        let outcome = LimitEvaluation.evaluate(limits: limits, hierarchy: tree, stored: { _, p in p == .minute ? 4 : 100 }, usage: processed,
                                               recording: false, now: now)
        let headers = LimitEvaluation.limitHeaders(outcome, hierarchy: tree, usage: processed, now: now)
        #expect(headers == .init(remaining: 3, reset: 60, maxValue: 10))
        let none = LimitEvaluation.limitHeaders(LimitEvaluation.Outcome(authorized: true, reports: []), hierarchy: tree, usage: nil, now: now)
        #expect(none == .init(remaining: -1, reset: -1, maxValue: nil))
        // Both exhausted: the tie goes to the longer period.
        let tied = LimitEvaluation.evaluate(limits: limits, hierarchy: tree, stored: { _, p in p == .minute ? 10 : 1000 }, usage: processed,
                                            recording: false, now: now)
        #expect(LimitEvaluation.limitHeaders(tied, hierarchy: tree, usage: processed, now: now).maxValue == 1000)
    }

    @Test func keyLayoutMatchesApisonator() {
        let t = Timestamp(iso8601: "2016-01-02T10:00:00Z")!
        #expect(ApisonatorKeys.applicationUsage("42", app: "abc", metric: "7", .hour, at: t) == "stats/{service:42}/cinstance:abc/metric:7/hour:201601021")
        #expect(ApisonatorKeys.serviceUsage("42", metric: "7", .eternity, at: t) == "stats/{service:42}/metric:7/eternity")
        #expect(ApisonatorKeys.userKey("42", "my key") == "application/service_id:42/key:my+key/id")
        #expect(ApisonatorKeys.usageLimit("42", plan: "9", metric: "7", .day) == "usage_limit/service_id:42/plan_id:9/metric_id:7/day")
        #expect(ApisonatorKeys.serviceToken("tok", serviceID: "42") == "service_token/token:tok/service_id:42")
        #expect(ApisonatorKeys.metricID("42", name: "hits") == "metric/service_id:42/name:hits/id")
    }
}

@Suite struct ServiceManagementXMLTests {
    @Test func statusDocumentMatchesTheGolden() {
        let t = Timestamp(iso8601: "2010-05-15T13:00:00Z")!
        let status = ServiceManagementXML.Status(authorized: true, reason: nil, plan: "Basic", reports: [
            .init(metric: "hits", period: .month, start: LimitPeriod.month.start(containing: t), end: LimitPeriod.month.end(containing: t),
                  maxValue: 10000, currentValue: 5, exceeded: false),
            .init(metric: "hits", period: .day, start: LimitPeriod.day.start(containing: t), end: LimitPeriod.day.end(containing: t),
                  maxValue: 100, currentValue: 2, exceeded: false),
        ])
        let golden = #"<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Basic</plan><usage_reports>"#
            + #"<usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end>"#
            + #"<max_value>10000</max_value><current_value>5</current_value></usage_report>"#
            + #"<usage_report metric="hits" period="day"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end>"#
            + #"<max_value>100</max_value><current_value>2</current_value></usage_report></usage_reports></status>"#
        #expect(status.render() == golden)
    }

    /// Text keeps its quotes (the reference's own example); markup characters are escaped.
    @Test func rejectionsAndErrorsAreEscaped() {
        let status = ServiceManagementXML.Status(authorized: false, reason: "referrer \"<x>\" is not allowed", plan: "A&B", reports: [
            .init(metric: "hits", period: .eternity, start: Timestamp(secondsSinceEpoch: 0), end: Timestamp(secondsSinceEpoch: 0), maxValue: 4,
                  currentValue: 5, exceeded: true),
        ])
        #expect(status.render() == #"<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>referrer "&lt;x&gt;" is not allowed</reason><plan>A&amp;B</plan><usage_reports><usage_report metric="hits" period="eternity" exceeded="true"><max_value>4</max_value><current_value>5</current_value></usage_report></usage_reports></status>"#)
        #expect(ServiceManagementXML.error(code: "application_not_found", message: #"application with id="boo" was not found"#)
            == #"<?xml version="1.0" encoding="UTF-8"?><error code="application_not_found">application with id="boo" was not found</error>"#)
    }
}
