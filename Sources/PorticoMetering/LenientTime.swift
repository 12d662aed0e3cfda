import PorticoCore

/// The timestamp forms reports carry: UNIX seconds (`1271980770`), or a date with year, month and day and an
/// optional time and offset (`2010-04-22 23:59:30`, `2010-04-22T23:59:30+02:00`, `2010/04/22 23:59 -0200`,
/// `2012/10/01`, trailing `Z` or `UTC`). Times without an offset are UTC.
enum LenientTime {
    static func parse(_ text: String) -> Timestamp? {
        if text.allSatisfy({ $0.isASCII && $0.isNumber }), let s = Int64(text) { return Timestamp(secondsSinceEpoch: s) }
        let b = Array(text.utf8)
        var i = 0
        func number(maxDigits: Int) -> Int64? {
            var v: Int64 = 0
            var n = 0
            while i < b.count, n < maxDigits, b[i] >= 48, b[i] <= 57 {
                v = v * 10 + Int64(b[i] - 48)
                i += 1
                n += 1
            }
            return n == 0 ? nil : v
        }
        func skip(_ chars: Set<UInt8>) -> Bool {
            guard i < b.count, chars.contains(b[i]) else { return false }
            i += 1
            return true
        }
        let dateSep: Set<UInt8> = [UInt8(ascii: "-"), UInt8(ascii: "/")]
        guard let y = number(maxDigits: 4), skip(dateSep), let m = number(maxDigits: 2), skip(dateSep), let d = number(maxDigits: 2),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        var seconds = Timestamp.days(fromCivil: y, m, d) * 86_400
        if skip([UInt8(ascii: " "), UInt8(ascii: "T")]), let hh = number(maxDigits: 2) {
            guard hh < 24, skip([UInt8(ascii: ":")]), let mm = number(maxDigits: 2), mm < 60 else { return nil }
            var ss: Int64 = 0
            if skip([UInt8(ascii: ":")]) {
                guard let s = number(maxDigits: 2), s < 61 else { return nil }
                ss = s
                // Fractions of a second are ignored.
                if skip([UInt8(ascii: ".")]) { _ = number(maxDigits: 9) }
            }
            seconds += hh * 3600 + mm * 60 + ss
        }
        while i < b.count, b[i] == UInt8(ascii: " ") { i += 1 }
        if i < b.count {
            let rest = String(decoding: b[i...], as: UTF8.self)
            if rest == "Z" || rest == "UTC" || rest == "GMT" { return Timestamp(secondsSinceEpoch: seconds) }
            let sign = b[i]
            guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return nil }
            i += 1
            guard let oh = number(maxDigits: 2) else { return nil }
            _ = skip([UInt8(ascii: ":")])
            let om = number(maxDigits: 2) ?? 0
            guard i == b.count, oh < 24, om < 60 else { return nil }
            let offset = oh * 3600 + om * 60
            seconds += sign == UInt8(ascii: "+") ? -offset : offset
        }
        return Timestamp(secondsSinceEpoch: seconds)
    }
}
