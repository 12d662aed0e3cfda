/// One entry of `proxy.proxy_rules`, compiled.
public struct GatewayMappingRule: Sendable {
    public enum ExpectedValue: Sendable, Equatable {
        case literal(String)
        /// `{name}`: the parameter must be present, with any value.
        case present
    }

    public var httpMethod: String
    public var pattern: PathPattern
    public var queryParameters: [(name: String, expected: ExpectedValue)]
    public var metric: String
    public var delta: Int64
    public var last: Bool
    /// Set for rules of a Backend API (`owner_type: "BackendApi"`): usage cleanup keeps only the routed backend's.
    public var backendOwnerID: String?

    public init(httpMethod: String, pattern: String, queryParameters: [(String, ExpectedValue)] = [], metric: String, delta: Int64,
                last: Bool = false, backendOwnerID: String? = nil) {
        self.httpMethod = httpMethod
        self.pattern = PathPattern(pattern)
        self.queryParameters = queryParameters.map { (name: $0.0, expected: $0.1) }
        self.metric = metric
        self.delta = delta
        self.last = last
        self.backendOwnerID = backendOwnerID
    }

    /// Whether the expected string holds a placeholder (`\{[-\w_]+\}` anywhere).
    static func isPlaceholder(_ expected: String) -> Bool {
        var inside = false
        var length = 0
        for ch in expected {
            if ch == "{" {
                inside = true
                length = 0
            } else if ch == "}" {
                if inside, length > 0 { return true }
                inside = false
            } else if inside {
                if ch.isLetter || ch.isNumber || ch == "_" || ch == "-" { length += 1 } else { inside = false }
            }
        }
        return false
    }

    public func matches(method: String, path: String, arguments: RequestArguments) -> Bool {
        guard httpMethod == "ANY" || httpMethod == method else { return false }
        guard pattern.matches(path) else { return false }
        for (name, expected) in queryParameters {
            guard let value = arguments.last(name) else { return false }
            if case .literal(let literal) = expected, literal != value { return false }
        }
        return true
    }
}

/// What the mapping rules make of a request: metric deltas and the patterns that matched.
public struct RuleMatch: Sendable, Equatable {
    /// Metric → summed delta, in first-match order.
    public var usage: [(metric: String, delta: Int64)]
    /// The rules that matched, in order: their patterns (the debug header) and deltas with their owners (for
    /// API-as-a-Product cleanup). One array for both: a match is made on every request.
    var matched: [Matched]

    struct Matched: Sendable {
        var pattern: String
        var metric: String
        var delta: Int64
        var backendOwnerID: String?
    }

    public init() {
        usage = []
        matched = []
    }

    public var matchedPatterns: [String] { matched.map(\.pattern) }

    public static func == (a: RuleMatch, b: RuleMatch) -> Bool {
        a.usage.elementsEqual(b.usage) { $0.metric == $1.metric && $0.delta == $1.delta }
            && a.matched.elementsEqual(b.matched) { $0.pattern == $1.pattern }
    }

    public var isEmpty: Bool { usage.isEmpty }

    mutating func add(_ metric: String, _ delta: Int64) {
        if let i = usage.firstIndex(where: { $0.metric == metric }) {
            usage[i].delta += delta
        } else {
            usage.append((metric, delta))
        }
    }

    /// Adds a matching rule's delta (`owner`: its backend, for API-as-a-Product cleanup).
    mutating func add(rule pattern: String, metric: String, delta: Int64, owner: String?) {
        add(metric, delta)
        matched.append(Matched(pattern: pattern, metric: metric, delta: delta, backendOwnerID: owner))
    }

    /// Iterates rules in order, summing deltas of every match and stopping after a matching `last` rule.
    public static func evaluate(_ rules: [GatewayMappingRule], method: String, path: String, arguments: RequestArguments) -> RuleMatch {
        var result = RuleMatch()
        // By index: each rule is read where it is rather than copied out of the array.
        for i in rules.indices where rules[i].matches(method: method, path: path, arguments: arguments) {
            result.add(rule: rules[i].pattern.source, metric: rules[i].metric, delta: rules[i].delta, owner: rules[i].backendOwnerID)
            if rules[i].last { break }
        }
        return result
    }

    /// Drops deltas of rules owned by a backend other than the one routed to; metrics left at ≤ 0 go.
    public func cleaned(forBackend ownerID: String) -> RuleMatch {
        var result = self
        for c in matched {
            guard let owner = c.backendOwnerID, owner != ownerID, let i = result.usage.firstIndex(where: { $0.metric == c.metric }) else { continue }
            result.usage[i].delta -= c.delta
        }
        result.usage.removeAll { $0.delta <= 0 }
        return result
    }

    /// `usage[metric]=delta&…` sorted by metric: the cache key part and the debug header.
    public var encodedUsage: String {
        var encoded = ""
        appendEncodedUsage(to: &encoded)
        return encoded
    }

    /// `encodedUsage` appended to `text` (the cache key is built in one string, on every request).
    func appendEncodedUsage(to text: inout String) {
        func append(_ metric: String, _ delta: Int64) {
            text += "usage%5B"
            text += RequestArguments.encode(metric)
            text += "%5D="
            text += String(delta)
        }
        if usage.count == 1 { return append(usage[0].metric, usage[0].delta) }
        for (index, u) in usage.sorted(by: { $0.metric < $1.metric }).enumerated() {
            if index > 0 { text += "&" }
            append(u.metric, u.delta)
        }
    }
}
