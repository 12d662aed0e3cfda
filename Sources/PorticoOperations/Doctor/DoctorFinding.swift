/// One result of `portico doctor`: what was checked, how it went, and what to do when it did not go well.
public struct DoctorFinding: Sendable, Equatable {
    public enum Severity: String, Sendable, Comparable {
        case ok, warning, problem
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
        var rank: Int { self == .ok ? 0 : self == .warning ? 1 : 2 }
    }

    public var check: String
    public var severity: Severity
    public var message: String
    public var fix: String?

    public init(_ check: String, _ severity: Severity, _ message: String, fix: String? = nil) {
        self.check = check
        self.severity = severity
        self.message = message
        self.fix = fix
    }

    /// The report: one line per finding, the fix indented under it, then a count.
    public static func report(_ findings: [DoctorFinding]) -> [String] {
        var lines: [String] = []
        for f in findings {
            lines.append("[\(f.severity.rawValue)] \(f.check): \(f.message)")
            if let fix = f.fix, f.severity != .ok { lines.append("    fix: \(fix)") }
        }
        let problems = findings.filter { $0.severity == .problem }.count
        let warnings = findings.filter { $0.severity == .warning }.count
        lines.append(problems == 0 && warnings == 0 ? "no problems found"
                     : "\(problems) problem(s), \(warnings) warning(s)" + (problems > 0 ? "; serve or an upgrade would fail until the problems are fixed" : ""))
        return lines
    }
}
