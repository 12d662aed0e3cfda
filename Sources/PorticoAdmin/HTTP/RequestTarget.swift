/// The request path as routing sees it: duplicate slashes collapsed, the `.json` / `.xml` format suffix of
/// the last segment removed, and each segment percent-decoded only after splitting, so that application
/// key values containing `/`, `%`, `+`, `?` or `#` survive as one segment.
struct RequestTarget: Sendable, Equatable {
    var segments: [String]
    var format: String?
    var query: String

    init(rawPath: String) {
        var path = Substring(rawPath)
        var query = Substring("")
        if let q = path.firstIndex(of: "?") {
            query = path[path.index(after: q)...]
            path = path[..<q]
        }
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        var raw = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var format: String?
        if var last = raw.last {
            for suffix in [".json", ".xml"] where last.hasSuffix(suffix) {
                last.removeLast(suffix.count)
                format = String(suffix.dropFirst())
                break
            }
            raw[raw.count - 1] = last
        }
        self.segments = raw.map { FormDecoding.percentDecode($0, plusAsSpace: false) }
        self.format = format
        self.query = String(query)
    }
}

/// `application/x-www-form-urlencoded` and query-string decoding.
enum FormDecoding {
    static func percentDecode(_ s: String, plusAsSpace: Bool) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), it.count >= 2, let h = hexValue(it[it.startIndex]), let l = hexValue(it[it.startIndex + 1]) {
                bytes.append(h << 4 | l)
                it = it.dropFirst(2)
            } else if c == UInt8(ascii: "+"), plusAsSpace {
                bytes.append(UInt8(ascii: " "))
            } else {
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Decoded `name=value` pairs in order.
    static func pairs(_ query: String) -> [(String, String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecode(String(kv[0]), plusAsSpace: true), kv.count > 1 ? percentDecode(String(kv[1]), plusAsSpace: true) : "")
        }
    }
}
