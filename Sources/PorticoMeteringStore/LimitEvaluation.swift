import PorticoCore

/// A metric as metering knows it: id, system name, and parent (methods are children of `hits`).
public struct MeteredMetric: Sendable, Equatable {
    public var id: String
    public var name: String
    public var parentID: String?
    public init(id: String, name: String, parentID: String?) {
        self.id = id
        self.name = name
        self.parentID = parentID
    }
}

/// The metric tree of one product.
public struct MetricHierarchy: Sendable {
    public let metrics: [MeteredMetric]
    private let byID: [String: MeteredMetric]
    private let byName: [String: MeteredMetric]
    private let positions: [String: Int]
    /// Every metric's ancestors, walked once when the hierarchy is built (it is cached with the configuration),
    /// rather than for each usage line of each call.
    private let ancestorsByID: [String: [String]]

    public init(_ metrics: [MeteredMetric]) {
        self.metrics = metrics
        let byID = Dictionary(metrics.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.byID = byID
        byName = Dictionary(metrics.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        positions = Dictionary(metrics.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        var ancestorsByID: [String: [String]] = [:]
        for id in byID.keys { ancestorsByID[id] = Self.walkAncestors(of: id, in: byID) }
        self.ancestorsByID = ancestorsByID
    }

    /// The metric's place in the hierarchy's order (replies list limits in it).
    public func position(of id: String) -> Int? { positions[id] }

    public func metric(id: String) -> MeteredMetric? { byID[id] }
    public func metric(named name: String) -> MeteredMetric? { byName[name] }

    /// Parent, grandparent, …; cycles in bad data stop the walk.
    public func ancestors(of id: String) -> [String] { ancestorsByID[id] ?? [] }

    private static func walkAncestors(of id: String, in byID: [String: MeteredMetric]) -> [String] {
        var out: [String] = []
        var seen: Set<String> = [id]
        var current = byID[id]?.parentID
        while let p = current, !seen.contains(p) {
            out.append(p)
            seen.insert(p)
            current = byID[p]?.parentID
        }
        return out
    }

    public func children(of id: String) -> [MeteredMetric] { metrics.filter { $0.parentID == id } }
}

/// A plan's limit on a metric for a period.
public struct PlanLimit: Sendable, Equatable {
    public var metricID: String
    public var period: LimitPeriod
    public var maxValue: Int64
    public init(metricID: String, period: LimitPeriod, maxValue: Int64) {
        self.metricID = metricID
        self.period = period
        self.maxValue = maxValue
    }
}

/// Why a `usage` parameter cannot be used; the codes are apisonator's.
public enum UsageError: Error, Sendable, Equatable {
    /// 404 `metric_invalid`
    case unknownMetric(String)
    /// 403 `usage_value_invalid`
    case invalidValue(metric: String, value: String)
}

/// The limit check of reference/service-management-api.md §5.4, as pure functions.
public enum LimitEvaluation {
    /// Resolves names to ids, validates values and, unless `flat`, propagates to ancestors: increments add to
    /// every ancestor (an explicit parent value adds too); `#N` on a child sets every ancestor to N.
    public static func process(_ usage: [(name: String, value: String)], hierarchy: MetricHierarchy, flat: Bool) throws(UsageError) -> [String: UsageValue] {
        // Every name is resolved before any value is parsed: an unknown metric wins over a bad value.
        var ids: [String] = []
        for (name, _) in usage {
            guard let metric = hierarchy.metric(named: name) else { throw .unknownMetric(name) }
            ids.append(metric.id)
        }
        var parsed: [(String, UsageValue)] = []
        for (i, (name, raw)) in usage.enumerated() {
            guard let value = UsageValue(parsing: raw) else { throw .invalidValue(metric: name, value: raw) }
            parsed.append((ids[i], value))
        }
        var out: [String: UsageValue] = [:]
        func add(_ id: String, _ value: UsageValue) {
            switch (out[id], value) {
            case (nil, _), (_, .set): out[id] = value
            case (.increment(let a)?, .increment(let b)): out[id] = .increment(a &+ b)
            case (.set(let a)?, .increment(let b)): out[id] = .set(a &+ b)
            }
        }
        for (id, value) in parsed {
            add(id, value)
            if !flat {
                for ancestor in hierarchy.ancestors(of: id) { add(ancestor, value) }
            }
        }
        return out
    }

    /// One `<usage_report>` line.
    public struct Report: Sendable, Equatable {
        public var metricID: String
        public var metricName: String
        public var period: LimitPeriod
        public var periodStart: Timestamp
        public var periodEnd: Timestamp
        public var maxValue: Int64
        /// The stored counter.
        public var storedValue: Int64
        /// What the reply shows: stored, plus this request's usage when an authrep is authorized.
        public var shownValue: Int64
        /// Stored value strictly above the maximum (the request's own usage never sets it).
        public var exceeded: Bool { storedValue > maxValue }
    }

    public struct Outcome: Sendable, Equatable {
        public var authorized: Bool
        public var reports: [Report]
        public init(authorized: Bool, reports: [Report]) {
            self.authorized = authorized
            self.reports = reports
        }
    }

    /// Decides a request. `stored` gives the counter of (metric id, period) in the instance containing `now`;
    /// `usage` is nil when the request had no usage; `recording` is true for authrep.
    public static func evaluate(limits: [PlanLimit], hierarchy: MetricHierarchy, stored: (String, LimitPeriod) -> Int64,
                                usage: [String: UsageValue]?, recording: Bool, now: Timestamp) -> Outcome {
        var authorized = true
        var reports: [Report] = []
        for limit in ordered(limits, hierarchy: hierarchy) {
            guard let metric = hierarchy.metric(id: limit.metricID) else { continue }
            let current = stored(limit.metricID, limit.period)
            if let usage {
                // Metrics the usage does not mention count as 0 and pass.
                if let value = usage[limit.metricID], value.applied(to: current) > limit.maxValue { authorized = false }
            } else if current > limit.maxValue {
                authorized = false
            }
            reports.append(Report(metricID: metric.id, metricName: metric.name, period: limit.period,
                                  periodStart: limit.period.start(containing: now), periodEnd: limit.period.end(containing: now),
                                  maxValue: limit.maxValue, storedValue: current, shownValue: current))
        }
        if authorized, recording, let usage {
            for i in reports.indices {
                if let value = usage[reports[i].metricID] { reports[i].shownValue = value.applied(to: reports[i].storedValue) }
            }
        }
        return Outcome(authorized: authorized, reports: reports)
    }

    /// Reports by metric (hierarchy order), then period from longest to shortest.
    static func ordered(_ limits: [PlanLimit], hierarchy: MetricHierarchy) -> [PlanLimit] {
        guard limits.count > 1 else { return limits }
        return limits.sorted {
            (hierarchy.position(of: $0.metricID) ?? Int.max, rank($0.period)) < (hierarchy.position(of: $1.metricID) ?? Int.max, rank($1.period))
        }
    }

    /// Position in `LimitPeriod.longestFirst`.
    static func rank(_ period: LimitPeriod) -> Int {
        switch period {
        case .eternity: 0
        case .year: 1
        case .month: 2
        case .week: 3
        case .day: 4
        case .hour: 5
        case .minute: 6
        }
    }

    /// `3scale-limit-*` headers (§6), implementing the documented intent where apisonator's comparator is
    /// inconsistent: the smallest non-negative "calls left" wins, ties go to the longer period, and -1 only
    /// when nothing is constrained.
    public struct LimitHeaders: Sendable, Equatable {
        /// How many more calls like this one fit in the most constrained limit.
        public var remaining: Int64
        public var reset: Int64
        public var maxValue: Int64?
        public init(remaining: Int64, reset: Int64, maxValue: Int64?) {
            self.remaining = remaining
            self.reset = reset
            self.maxValue = maxValue
        }
    }

    public static func limitHeaders(_ outcome: Outcome, hierarchy: MetricHierarchy, usage: [String: UsageValue]?, now: Timestamp) -> LimitHeaders {
        var relevant = Set<String>()
        if let usage, !usage.isEmpty {
            for id in usage.keys {
                relevant.insert(id)
                relevant.formUnion(hierarchy.ancestors(of: id))
            }
        }
        var best: (calls: Int64, report: Report)?
        for report in outcome.reports where relevant.isEmpty || relevant.contains(report.metricID) {
            let remaining = max(report.maxValue - report.shownValue, 0)
            let perCall = usage?[report.metricID]?.amount ?? 0
            let calls: Int64 = remaining <= 0 ? 0 : (perCall == 0 ? -1 : remaining / perCall)
            guard calls >= 0 else { continue }
            if let b = best {
                if calls < b.calls || (calls == b.calls && rank(report.period) < rank(b.report.period)) {
                    best = (calls, report)
                }
            } else {
                best = (calls, report)
            }
        }
        guard let best else { return LimitHeaders(remaining: -1, reset: -1, maxValue: nil) }
        let reset = best.report.period == .eternity ? -1 : best.report.periodEnd.secondsSinceEpoch - now.secondsSinceEpoch
        return LimitHeaders(remaining: best.calls, reset: reset, maxValue: best.report.maxValue)
    }
}
