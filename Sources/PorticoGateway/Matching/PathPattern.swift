/// A mapping rule's path template compiled the way APIcast compiles it (reference/gateway.md §2.3):
/// runs of `/` collapse, everything from `?` is dropped, `{name}` matches one path segment, `.` is literal,
/// a trailing `$` anchors the end, and the match is a prefix match otherwise.
///
/// APIcast escapes only `.` and leaves other regex metacharacters (`+ * ( ) [ ] |`) with their regex
/// meaning (issue #1001). Patterns without such characters, which is nearly all of them, are matched by a
/// small backtracking matcher over bytes; the others are compiled to a `Regex` with APIcast's exact
/// translation, so both behave as APIcast does.
public struct PathPattern: Sendable {
    enum Token: Sendable, Equatable {
        case literal([UInt8])
        case placeholder
    }

    enum Matcher: @unchecked Sendable {
        case tokens([Token], anchored: Bool)
        /// `Regex<AnyRegexOutput>` is immutable once built; it is not marked `Sendable` by the standard library.
        case regex(Regex<AnyRegexOutput>)
    }

    public let source: String
    let matcher: Matcher

    /// Bytes a placeholder matches: `[A-Za-z0-9_-.~%!$&'()*+,;=@:]` — never `/`.
    static let segmentBytes: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for b in UInt8(ascii: "a")...UInt8(ascii: "z") { table[Int(b)] = true }
        for b in UInt8(ascii: "A")...UInt8(ascii: "Z") { table[Int(b)] = true }
        for b in UInt8(ascii: "0")...UInt8(ascii: "9") { table[Int(b)] = true }
        for c in "_-.~%!$&'()*+,;=@:".utf8 { table[Int(c)] = true }
        return table
    }()
    static let segmentClass = #"[\w\-.~%!$&'()*+,;=@:]+"#
    static let regexMetacharacters: Set<Character> = ["+", "*", "(", ")", "[", "]", "|", "\\", "^"]

    public init(_ pattern: String) {
        source = pattern
        // 1. collapse slashes, 2. drop the query part.
        var path = ""
        var previousSlash = false
        for ch in pattern {
            if ch == "?" { break }
            if ch == "/" {
                if previousSlash { continue }
                previousSlash = true
            } else {
                previousSlash = false
            }
            path.append(ch)
        }
        var anchored = false
        if path.hasSuffix("$") {
            anchored = true
            path.removeLast()
        }
        // Split into literals and placeholders (non-greedy `{...}`).
        var pieces: [(literal: String, placeholder: Bool)] = []
        var literal = ""
        var index = path.startIndex
        while index < path.endIndex {
            let ch = path[index]
            if ch == "{", let close = path[index...].firstIndex(of: "}"), close > path.index(after: index) {
                if !literal.isEmpty { pieces.append((literal, false)) }
                literal = ""
                pieces.append(("", true))
                index = path.index(after: close)
                continue
            }
            literal.append(ch)
            index = path.index(after: index)
        }
        if !literal.isEmpty { pieces.append((literal, false)) }

        let needsRegex = pieces.contains { !$0.placeholder && ($0.literal.contains(where: PathPattern.regexMetacharacters.contains) || $0.literal.contains("$") || $0.literal.contains("{") || $0.literal.contains("}")) }
        if needsRegex {
            var expression = "^"
            for piece in pieces {
                if piece.placeholder {
                    expression += PathPattern.segmentClass
                } else {
                    for ch in piece.literal { expression += ch == "." ? "\\." : String(ch) }
                }
            }
            if anchored { expression += "$" }
            if let regex = try? Regex(expression) {
                matcher = .regex(regex)
                return
            }
            // Not a valid regex (e.g. an unbalanced parenthesis): nginx would fail to compile it and never match
            // the rule; matching the characters literally is the least surprising choice and is documented.
        }
        matcher = .tokens(pieces.map { $0.placeholder ? .placeholder : .literal(Array($0.literal.utf8)) }, anchored: anchored)
    }

    /// Whether the (normalised, re-escaped) request path matches.
    public func matches(_ path: String) -> Bool {
        switch matcher {
        case .regex(let regex):
            return (try? regex.prefixMatch(in: path)) != nil
        case .tokens(let tokens, let anchored):
            let utf8 = path.utf8
            return utf8.withContiguousStorageIfAvailable { bytes in
                PathPattern.match(tokens[...], bytes, from: 0, anchored: anchored)
            } ?? {
                let bytes = Array(path.utf8)
                return bytes.withUnsafeBufferPointer { PathPattern.match(tokens[...], $0, from: 0, anchored: anchored) }
            }()
        }
    }

    static func match(_ tokens: ArraySlice<Token>, _ subject: UnsafeBufferPointer<UInt8>, from start: Int, anchored: Bool) -> Bool {
        guard let token = tokens.first else { return !anchored || start == subject.count }
        let rest = tokens.dropFirst()
        switch token {
        case .literal(let bytes):
            guard subject.count - start >= bytes.count else { return false }
            for (offset, b) in bytes.enumerated() where subject[start + offset] != b { return false }
            return match(rest, subject, from: start + bytes.count, anchored: anchored)
        case .placeholder:
            var end = start
            while end < subject.count, segmentBytes[Int(subject[end])] { end += 1 }
            guard end > start else { return false }
            // Greedy, then give back one byte at a time (what the regex engine does).
            var candidate = end
            while candidate > start {
                if match(rest, subject, from: candidate, anchored: anchored) { return true }
                candidate -= 1
            }
            return false
        }
    }
}
