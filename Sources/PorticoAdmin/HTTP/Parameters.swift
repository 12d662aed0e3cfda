import PorticoCore
import PorticoStore

/// Request parameters merged the way Rails merges them: body (JSON or form) first, the query string over it.
/// Form keys use Rails' nested syntax: `a[]=x` builds an array, `a[b]=x` an object.
/// Unknown keys are kept and simply never read, which is how 3scale ignores them.
public struct Parameters: Sendable {
    public private(set) var values: JSONObject

    public init(_ values: JSONObject = JSONObject()) { self.values = values }

    /// Builds the parameters of a request; a body that claims to be JSON but is not is a 400.
    static func parse(query: String, body: [UInt8], contentType: String?) throws -> Parameters {
        var merged = JSONObject()
        let type = contentType?.lowercased() ?? ""
        let trimmed = body.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if !trimmed.isEmpty {
            if type.contains("json") || (!type.contains("form") && (trimmed.first == UInt8(ascii: "{"))) {
                do {
                    let value = try JSONParser.parse(body)
                    if case .object(let object) = value { merged = object } else if !value.isNull {
                        throw AdminError(.badRequest("the request body must be a JSON object"))
                    }
                } catch let error as JSONParseError {
                    throw AdminError(.badRequest("the request body is not valid JSON (\(error.description))"))
                }
            } else if type.isEmpty || type.contains("x-www-form-urlencoded") {
                merged = nestedForm(FormDecoding.pairs(String(decoding: body, as: UTF8.self)))
            } else if type.contains("multipart/form-data") {
                throw AdminError(.badRequest("multipart bodies are not accepted by this endpoint; send JSON or a form"))
            }
        }
        for (key, value) in nestedForm(FormDecoding.pairs(query)).entries {
            merged[key] = value
        }
        return Parameters(merged)
    }

    /// Turns Rails-style keys into nested values.
    static func nestedForm(_ pairs: [(String, String)]) -> JSONObject {
        var result = JSONObject()
        for (key, value) in pairs {
            guard let open = key.firstIndex(of: "["), key.hasSuffix("]") else {
                result[key] = .string(value)
                continue
            }
            let base = String(key[..<open])
            let inner = String(key[key.index(after: open)..<key.index(before: key.endIndex)])
            if inner.isEmpty {
                var array = result[base]?.arrayValue ?? []
                array.append(.string(value))
                result[base] = .array(array)
            } else if let close = inner.firstIndex(of: "]") {
                // a[b][] or a[b][c]: one more level is enough for every 3scale parameter.
                let sub = String(inner[..<close])
                var object = result[base]?.objectValue ?? JSONObject()
                if inner.hasSuffix("[") || inner.hasSuffix("][") {
                    var array = object[sub]?.arrayValue ?? []
                    array.append(.string(value))
                    object[sub] = .array(array)
                } else {
                    object[sub] = .string(value)
                }
                result[base] = .object(object)
            } else {
                var object = result[base]?.objectValue ?? JSONObject()
                object[inner] = .string(value)
                result[base] = .object(object)
            }
        }
        return result
    }

    /// Accepts 3scale's wrapped form (`{"service": {...}}`, `service[name]=`) next to the flat one.
    func unwrapping(_ wrapper: String) throws -> Parameters {
        guard let wrapped = values[wrapper] else { return self }
        guard case .object(let inner) = wrapped else {
            throw AdminError(.unprocessable("Wrong type for parameter: \(wrapper)"))
        }
        var merged = values
        for (k, v) in inner.entries { merged[k] = v }
        return Parameters(merged)
    }

    public subscript(key: String) -> JSONValue? { values[key] }

    func has(_ key: String) -> Bool { values[key] != nil }

    /// A present, non-null value as text.
    func string(_ key: String) -> String? {
        guard let v = values[key], !v.isNull else { return nil }
        return v.stringValue
    }

    /// A present, non-empty text value.
    func nonEmpty(_ key: String) -> String? {
        guard let s = string(key), !s.isEmpty else { return nil }
        return s
    }

    func int(_ key: String) -> Int64? {
        switch values[key] {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int64(d)
        case .string(let s): return Int64(s.trimmingSpaces)
        default: return nil
        }
    }

    func double(_ key: String) -> Double? {
        switch values[key] {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s.trimmingSpaces)
        default: return nil
        }
    }

    /// Rails' lenient booleans: true/false, 1/0, "true"/"false", "1"/"0".
    func bool(_ key: String) -> Bool? {
        switch values[key] {
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .string(let s):
            switch s.lowercased() {
            case "true", "1", "yes", "on", "t": return true
            case "false", "0", "no", "off", "f", "": return false
            default: return nil
            }
        default: return nil
        }
    }

    /// An array of texts; a single value counts as a one-element array; a JSON-encoded array string is decoded.
    func stringArray(_ key: String) -> [String]? {
        switch values[key] {
        case .array(let a): return a.compactMap { $0.stringValue }
        case .string(let s):
            if s.hasPrefix("["), let parsed = try? JSONParser.parse(s), case .array(let a) = parsed { return a.compactMap { $0.stringValue } }
            return [s]
        case .null, nil: return nil
        case .some(let v): return v.stringValue.map { [$0] }
        }
    }

    /// `annotations` as an object of texts.
    func stringMap(_ key: String) -> [String: String]? {
        guard case .object(let o) = values[key] else { return nil }
        var out: [String: String] = [:]
        for (k, v) in o.entries { if let s = v.stringValue { out[k] = s } }
        return out
    }

    /// `page` and `per_page` as porta reads them: page from 1, per_page 1...500, anything else the default.
    func page(defaultPerPage: Int = 500, maximum: Int = 500) -> PageRequest {
        let page = int("page").map { Int($0) }.flatMap { $0 >= 1 ? $0 : nil } ?? 1
        var perPage = int("per_page").map { Int($0) } ?? defaultPerPage
        if perPage < 1 || perPage > maximum { perPage = defaultPerPage }
        return PageRequest(page: page, perPage: perPage)
    }

    /// The requested page of an already loaded list; empty past the end.
    func paginate<T>(_ items: [T]) -> [T] {
        let page = self.page()
        return Array(items.dropFirst(page.offset).prefix(page.perPage))
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return String(s)
    }
}
