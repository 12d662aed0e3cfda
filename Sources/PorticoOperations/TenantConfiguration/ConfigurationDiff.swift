import PorticoCore

/// One difference between a configuration document (what is wanted) and an instance (what is there).
public struct ConfigurationChange: Sendable {
    public enum Action: String, Sendable { case create, update, delete }

    /// An enclosing object, as it exists on the instance.
    public struct Ancestor: Sendable {
        public let schema: CollectionSchema
        public let key: String
        public let actual: JSONObject
    }

    public struct FieldChange: Sendable {
        public let name: String
        public let old: JSONValue?
        public let new: JSONValue
    }

    public let action: Action
    public let schema: CollectionSchema
    public let key: String
    public let ancestors: [Ancestor]
    /// The object the document holds (create, update).
    public let desired: JSONObject?
    /// The object on the instance, with its `_id` (update, delete).
    public let actual: JSONObject?
    public let fields: [FieldChange]

    /// `product api › application plan basic › limit hits per day`
    public var path: String {
        (ancestors.map { "\($0.schema.label) \($0.key)" } + ["\(schema.label) \(key)"]).joined(separator: " › ")
    }

    /// One line, or one line and a line per changed field, as diff and import print it.
    public var description: String {
        switch action {
        case .create:
            let contents = schema.children.compactMap { child -> String? in
                guard let n = desired?[child.field]?.arrayValue?.count, n > 0 else { return nil }
                return "\(n) \(child.field.replacingUnderscores)"
            }
            return "+ \(path)" + (contents.isEmpty ? "" : " (with \(contents.joined(separator: ", ")))")
        case .delete:
            return "- \(path)"
        case .update:
            return (["~ \(path)"] + fields.map { "    \($0.name): \(Self.show($0.old, field: $0.name)) → \(Self.show($0.new, field: $0.name))" })
                .joined(separator: "\n")
        }
    }

    static func show(_ value: JSONValue?, field: String) -> String {
        let leaf = String(field.split(separator: ".").last ?? "")
        if ConfigurationSchema.secretFields.values.contains(where: { $0.contains(leaf) }) {
            return value == nil || value == .null ? "(none)" : "(secret)"
        }
        guard let value else { return "(none)" }
        let text: String
        switch value {
        case .string(let s): text = "\"\(s)\""
        default: text = value.serializedString
        }
        return text.count > 100 ? String(text.prefix(97)) + "…" : text
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}

/// Compares a document with an instance's configuration (as `TenantExport` reads it).
///
/// Only what the document holds is compared: a field it leaves out is not managed, and a list it leaves
/// out entirely is not managed either (nothing in it is created, changed or deleted). Inside a list the
/// document does hold, objects the instance has and the document lacks are reported as deletions; whether
/// they are deleted is the importer's mode.
public enum ConfigurationDiff {
    public static func changes(desired: JSONObject, actual: JSONObject) -> [ConfigurationChange] {
        var out: [ConfigurationChange] = []
        compare(desired, actual, schemas: ConfigurationSchema.collections, ancestors: [], into: &out)
        return out
    }

    static func compare(_ desired: JSONObject, _ actual: JSONObject, schemas: [CollectionSchema], ancestors: [ConfigurationChange.Ancestor],
                        into out: inout [ConfigurationChange])
    {
        for schema in schemas {
            guard let wanted = desired[schema.field]?.arrayValue else { continue }
            let existing = actual[schema.field]?.arrayValue?.compactMap(\.objectValue) ?? []
            var existingByKey: [String: JSONObject] = [:]
            for item in existing { if let key = schema.key(item), existingByKey[key] == nil { existingByKey[key] = item } }
            var wantedKeys = Set<String>()
            for case .object(let item) in wanted {
                guard let key = schema.key(item) else { continue }
                wantedKeys.insert(key)
                guard let current = existingByKey[key] else {
                    out.append(ConfigurationChange(action: .create, schema: schema, key: key, ancestors: ancestors, desired: item, actual: nil, fields: []))
                    continue
                }
                let fields = fieldChanges(item, current, schema: schema)
                if !fields.isEmpty {
                    out.append(ConfigurationChange(action: .update, schema: schema, key: key, ancestors: ancestors, desired: item, actual: current, fields: fields))
                }
                compare(item, current, schemas: schema.children, ancestors: ancestors + [.init(schema: schema, key: key, actual: current)], into: &out)
            }
            for item in existing {
                guard let key = schema.key(item), !wantedKeys.contains(key) else { continue }
                out.append(ConfigurationChange(action: .delete, schema: schema, key: key, ancestors: ancestors, desired: nil, actual: item, fields: []))
            }
        }
    }

    static func fieldChanges(_ desired: JSONObject, _ actual: JSONObject, schema: CollectionSchema) -> [ConfigurationChange.FieldChange] {
        var out: [ConfigurationChange.FieldChange] = []
        for (name, value) in desired.entries where !name.hasPrefix(ConfigurationSchema.internalPrefix) && schema.child(name) == nil {
            // A plan stops being the default only when another becomes it (3scale has no "unset"): that other plan's
            // `default: true` is the change; this side of it is not one.
            if name == "default", value == .bool(false), schema.field.hasSuffix("_plans") { continue }
            if schema.sectionFields.contains(name), case .object(let section) = value {
                let current = actual[name]?.objectValue ?? JSONObject()
                for (entry, wanted) in section.entries where !same(wanted, current[entry]) {
                    out.append(.init(name: "\(name).\(entry)", old: current[entry], new: wanted))
                }
            } else if schema.setFields.contains(name) {
                if !same(sortedStrings(value), sortedStrings(actual[name] ?? .array([]))) {
                    out.append(.init(name: name, old: actual[name], new: value))
                }
            } else if !same(value, actual[name]) {
                out.append(.init(name: name, old: actual[name], new: value))
            }
        }
        return out
    }

    static func sortedStrings(_ value: JSONValue) -> JSONValue {
        guard let items = value.arrayValue else { return value }
        return .array(items.compactMap(\.stringValue).sorted().map(JSONValue.string))
    }

    /// Equality as the API means it: `1` and `1.0` and `"1.0"` are one number; null, absent and `""` are one empty value;
    /// objects are equal whatever their key order.
    public static func same(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
        let a = isEmpty(a) ? nil : a
        let b = isEmpty(b) ? nil : b
        switch (a, b) {
        case (nil, nil): return true
        case (nil, _), (_, nil): return false
        case (.some(let x), .some(let y)):
            if x == y { return true }
            if let m = number(x), let n = number(y) { return m == n }
            switch (x, y) {
            case (.array(let l), .array(let r)): return l.count == r.count && zip(l, r).allSatisfy { same($0, $1) }
            case (.object(let l), .object(let r)):
                let keys = Set(l.keys + r.keys)
                return keys.allSatisfy { same(l[$0], r[$0]) }
            default: return false
            }
        }
    }

    static func isEmpty(_ value: JSONValue?) -> Bool {
        switch value {
        case nil, .null?: return true
        case .string(let s)?: return s.isEmpty
        default: return false
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .string(let s): return Double(s)
        default: return nil
        }
    }
}
