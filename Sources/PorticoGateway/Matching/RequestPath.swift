/// The subject mapping rules are matched against: nginx's normalised `$uri` (percent-decoded, dot segments
/// resolved, duplicate slashes merged, no query) re-escaped the way nginx escapes URIs, so `/foo%20/bar`
/// matches a pattern written `/foo%20/bar` (reference/gateway.md §2.3).
public enum RequestPath {
    /// Normalises a raw request path; nil when it escapes the root (`/..`) or holds an encoded NUL, which
    /// nginx rejects with 400.
    public static func normalized(_ raw: Substring) -> [UInt8]? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(raw.utf8.count)
        var bytes = raw.utf8[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2,
               let hi = hexValue(bytes[bytes.startIndex]), let lo = hexValue(bytes[bytes.index(after: bytes.startIndex)]) {
                let value = hi << 4 | lo
                if value == 0 { return nil }
                decoded.append(value)
                bytes = bytes.dropFirst(2)
            } else {
                decoded.append(b)
            }
        }
        // Resolve segments.
        var segments: [ArraySlice<UInt8>] = []
        for segment in decoded.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if segment.elementsEqual(".".utf8) { continue }
            if segment.elementsEqual("..".utf8) {
                guard !segments.isEmpty else { return nil }
                segments.removeLast()
                continue
            }
            segments.append(segment)
        }
        var out: [UInt8] = [UInt8(ascii: "/")]
        for (i, s) in segments.enumerated() {
            if i > 0 { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: s)
        }
        let endsWithSlash = decoded.last == UInt8(ascii: "/") || decoded.reversed().starts(with: Array("/.".utf8.reversed()))
        if !segments.isEmpty, endsWithSlash { out.append(UInt8(ascii: "/")) }
        return out
    }

    /// nginx's `NGX_ESCAPE_URI`: space, `#`, `%`, `?`, control bytes and bytes from 0x7F on become `%XX`.
    public static func escaped(_ path: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(path.count)
        for b in path {
            if b <= 0x20 || b >= 0x7F || b == UInt8(ascii: "#") || b == UInt8(ascii: "%") || b == UInt8(ascii: "?") {
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0F)])
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The matching subject of a raw path, or nil for a path nginx would refuse.
    public static func subject(_ raw: Substring) -> String? {
        normalized(raw).map(escaped)
    }

    /// `subject(_:)` of a whole path: most paths are their own subject (`isOwnSubject`), and are returned as they are.
    public static func subject(_ raw: String) -> String? {
        isOwnSubject(raw.utf8) ? raw : subject(raw[...])
    }

    /// Whether normalising and escaping `raw` gives it back unchanged: it starts with `/`, has nothing to decode or
    /// escape (no `%`, only printable ASCII other than `#` and `?`), no empty segment (`//`) and no segment starting
    /// with a dot (which covers `.` and `..`; `/.well-known` takes the long way, with the same result). Every request
    /// matches its path against mapping rules, and the long way is several buffers.
    static func isOwnSubject(_ raw: String.UTF8View) -> Bool {
        var previous: UInt8 = 0
        for (index, b) in raw.enumerated() {
            if index == 0, b != UInt8(ascii: "/") { return false }
            if b <= 0x20 || b >= 0x7F || b == UInt8(ascii: "#") || b == UInt8(ascii: "%") || b == UInt8(ascii: "?") { return false }
            if previous == UInt8(ascii: "/"), b == UInt8(ascii: "/") || b == UInt8(ascii: ".") { return false }
            previous = b
        }
        return previous != 0
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
