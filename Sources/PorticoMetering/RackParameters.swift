/// A request parameter as Rack's nested-parameter parser produces it (`usage[hits]=1`,
/// `transactions[0][usage][hits]=1`, `keys[]=a`), which is what apisonator — and so every Service Management API
/// client — relies on.
public enum ParameterValue: Sendable, Equatable {
    case string(String)
    case hash([String: ParameterValue], order: [String])
    case array([ParameterValue])

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public subscript(key: String) -> ParameterValue? {
        if case .hash(let h, _) = self { return h[key] }
        return nil
    }

    /// Entries of a hash in the order they first appeared.
    public var entries: [(String, ParameterValue)]? {
        guard case .hash(let h, let order) = self else { return nil }
        return order.compactMap { k in h[k].map { (k, $0) } }
    }

    var isHash: Bool {
        if case .hash = self { return true }
        return false
    }
}

/// Why a query string or form body cannot be parsed; answered with 400 `bad_request` and Rack's message.
public struct ParameterSyntaxError: Error, Sendable, Equatable {
    public let message: String
}

/// Parses `application/x-www-form-urlencoded` text into nested parameters with Rack's rules and limits.
public struct RackParameters: Sendable {
    public static let maximumParameterCount = 4096
    public static let maximumBytes = 4 * 1024 * 1024

    public private(set) var root: [String: ParameterValue] = [:]
    public private(set) var order: [String] = []
    /// Some name or value was not valid UTF-8 after percent-decoding (answered 422 `not_valid_data`, at the
    /// point of the processing order where apisonator checks it).
    public private(set) var containsInvalidUTF8 = false

    public init() {}

    public subscript(key: String) -> ParameterValue? { root[key] }

    public func string(_ key: String) -> String? { root[key]?.string }

    public var asValue: ParameterValue { .hash(root, order: order) }

    /// Parses `text` (a query string or a form body) and merges it over what was parsed before.
    public mutating func merge(_ bytes: ArraySlice<UInt8>) throws(ParameterSyntaxError) {
        guard bytes.count <= Self.maximumBytes else { throw ParameterSyntaxError(message: "total query size exceeds limit") }
        var count = order.count
        if root.isEmpty {
            // An authrep carries a handful of parameters: room for them up front spares the table two regrowths.
            root.reserveCapacity(8)
            order.reserveCapacity(8)
        }
        var start = bytes.startIndex
        while start < bytes.endIndex {
            var end = start
            while end < bytes.endIndex, bytes[end] != UInt8(ascii: "&"), bytes[end] != UInt8(ascii: ";") { end += 1 }
            if end > start {
                count += 1
                guard count <= Self.maximumParameterCount else {
                    throw ParameterSyntaxError(message: "total number of query parameters (\(count)) exceeds limit (\(Self.maximumParameterCount))")
                }
                let pair = bytes[start..<end]
                let eq = pair.firstIndex(of: UInt8(ascii: "="))
                let name = try decode(pair[pair.startIndex..<(eq ?? pair.endIndex)])
                var value = ""
                if let eq { value = try decode(pair[(eq + 1)..<pair.endIndex]) }
                if !name.isEmpty { try insert(name: name, value: value) }
            }
            start = end + 1
        }
    }

    private mutating func decode(_ raw: ArraySlice<UInt8>) throws(ParameterSyntaxError) -> String {
        // Most names and values are plain: made into a string as they are, without a decoded copy.
        if !raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            if let s = String(validating: raw, as: UTF8.self) { return s }
            containsInvalidUTF8 = true
            return String(decoding: raw, as: UTF8.self)
        }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = raw.startIndex
        while i < raw.endIndex {
            let b = raw[i]
            if b == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%") {
                guard i + 2 < raw.endIndex, let h = Self.hex(raw[i + 1]), let l = Self.hex(raw[i + 2]) else {
                    throw ParameterSyntaxError(message: "Invalid query parameters: invalid %-encoding")
                }
                out.append(h << 4 | l)
                i += 2
            } else {
                out.append(b)
            }
            i += 1
        }
        if let s = String(validating: out, as: UTF8.self) { return s }
        containsInvalidUTF8 = true
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 65...70: return b - 55
        case 97...102: return b - 87
        default: return nil
        }
    }

    static let conflict = ParameterSyntaxError(message: "request contains syntax errors, should not be repeated without modification")

    /// `a[b][]=v` → path ["a", "b", ""]; Rack's normalize_params.
    private mutating func insert(name: String, value: String) throws(ParameterSyntaxError) {
        let bytes = name.utf8
        guard let bracket = bytes.firstIndex(of: UInt8(ascii: "[")), bracket != bytes.startIndex else {
            if root.updateValue(.string(value), forKey: name) == nil { order.append(name) }
            return
        }
        var path: [String] = [String(name[..<bracket])]
        var rest = bytes[bracket...]
        while rest.first == UInt8(ascii: "["), let close = rest.firstIndex(of: UInt8(ascii: "]")) {
            path.append(String(Substring(rest[rest.index(after: rest.startIndex)..<close])))
            rest = rest[rest.index(after: close)...]
        }
        // Trailing text after the brackets is ignored, as Rack does.
        let head = path[0]
        // Taken out while it changes, so a nested hash is changed without being copied.
        let existing = root.removeValue(forKey: head)
        if existing == nil { order.append(head) }
        do {
            root[head] = try Self.place(value, at: path.dropFirst(), into: existing)
        } catch {
            root[head] = existing
            throw error
        }
    }

    private static func place(_ value: String, at path: ArraySlice<String>, into existing: ParameterValue?) throws(ParameterSyntaxError) -> ParameterValue {
        guard let key = path.first else { return .string(value) }
        if key.isEmpty {
            var items: [ParameterValue] = []
            switch existing {
            case nil: break
            case .array(let a)?: items = a
            default: throw conflict
            }
            let rest = path.dropFirst()
            if rest.isEmpty {
                items.append(.string(value))
            } else if let last = items.last, last.isHash, case .hash(let h, _) = last, let k = rest.first, h[k] == nil || rest.count > 1 {
                // `a[][x]=1&a[][y]=2` fills the last hash until a key repeats, as Rack does.
                items[items.count - 1] = try place(value, at: rest, into: last)
            } else {
                items.append(try place(value, at: rest, into: nil))
            }
            return .array(items)
        }
        var hash: [String: ParameterValue] = [:]
        var order: [String] = []
        switch existing {
        case nil: break
        case .hash(let h, let o)?:
            hash = h
            order = o
        default: throw conflict
        }
        if hash[key] == nil { order.append(key) }
        hash[key] = try place(value, at: path.dropFirst(), into: hash[key])
        return .hash(hash, order: order)
    }
}
