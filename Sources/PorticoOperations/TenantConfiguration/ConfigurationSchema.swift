import PorticoCore

/// The shape of a tenant configuration document: which lists hold objects matched by a natural key
/// (system names, usernames, organisation names), never by instance-specific numeric ids, so a document
/// written on one instance means the same thing on another.
public struct CollectionSchema: Sendable {
    /// The document field holding the list, e.g. `products`.
    public let field: String
    /// How one item is named in plans and diffs, e.g. `product`.
    public let label: String
    /// The natural key of an item; nil when the item lacks the fields that make it up.
    public let key: @Sendable (JSONObject) -> String?
    public let children: [CollectionSchema]
    /// Fields holding unordered lists of names or values, compared as sets.
    public let setFields: Set<String>
    /// Object fields compared entry by entry (only the entries the document names), e.g. `proxy`.
    public let sectionFields: Set<String>

    init(_ field: String, _ label: String, key: @escaping @Sendable (JSONObject) -> String?, children: [CollectionSchema] = [],
         setFields: Set<String> = [], sectionFields: Set<String> = [])
    {
        self.field = field
        self.label = label
        self.key = key
        self.children = children
        self.setFields = setFields
        self.sectionFields = sectionFields
    }

    public func child(_ field: String) -> CollectionSchema? { children.first { $0.field == field } }
}

/// The document format: its version marker and the schema of its collections, in the order they are
/// created (a thing is created after everything it refers to) and printed.
public enum ConfigurationSchema {
    public static let formatField = "portico_configuration"
    public static let formatVersion: Int64 = 1
    /// Marks fields the exporter adds for the importer's own use (numeric ids of the target); never written to files.
    public static let internalPrefix = "_"

    static func text(_ field: String) -> @Sendable (JSONObject) -> String? {
        { object in object[field]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } }
    }

    /// `metric` or `backend/metric`: metrics are named by system name, qualified by their backend when they belong to one.
    static func metricReference(_ object: JSONObject) -> String? {
        guard let metric = object["metric"]?.stringValue else { return nil }
        if let backend = object["backend"]?.stringValue { return "\(backend)/\(metric)" }
        return metric
    }

    static func metrics(_ label: String) -> CollectionSchema {
        CollectionSchema("metrics", label, key: text("system_name"), children: [CollectionSchema("methods", "method", key: text("system_name"))])
    }

    static let mappingRules = CollectionSchema("mapping_rules", "mapping rule", key: { rule in
        guard let method = rule["http_method"]?.stringValue, let pattern = rule["pattern"]?.stringValue, let metric = metricReference(rule) else { return nil }
        return "\(method) \(pattern) → \(metric)"
    })

    static let features = CollectionSchema("features", "feature", key: text("system_name"))

    public static let collections: [CollectionSchema] = [
        CollectionSchema("fields_definitions", "fields definition", key: { field in
            guard let target = field["target"]?.stringValue, let name = field["name"]?.stringValue else { return nil }
            return "\(target).\(name)"
        }, setFields: []),
        CollectionSchema("account_features", "account feature", key: text("system_name")),
        CollectionSchema("account_plans", "account plan", key: text("name"), setFields: ["features"]),
        CollectionSchema("backend_apis", "backend", key: text("system_name"), children: [metrics("backend metric"), mappingRules]),
        CollectionSchema("products", "product", key: text("system_name"), children: [
            metrics("metric"),
            mappingRules,
            CollectionSchema("backend_usages", "backend usage", key: text("backend")),
            features,
            CollectionSchema("application_plans", "application plan", key: text("system_name"), children: [
                CollectionSchema("limits", "limit", key: { limit in
                    guard let metric = metricReference(limit), let period = limit["period"]?.stringValue else { return nil }
                    return "\(metric) per \(period)"
                }),
                CollectionSchema("pricing_rules", "pricing rule", key: { rule in
                    guard let metric = metricReference(rule), let min = rule["min"]?.stringValue else { return nil }
                    return "\(metric) from \(min)"
                }),
            ], setFields: ["features"]),
            CollectionSchema("service_plans", "service plan", key: text("system_name"), setFields: ["features"]),
        ], sectionFields: ["proxy", "annotations"]),
        CollectionSchema("active_docs", "ActiveDoc", key: text("system_name")),
        CollectionSchema("accounts", "account", key: text("org_name"), children: [
            CollectionSchema("users", "user", key: text("username"), sectionFields: ["fields"]),
            CollectionSchema("service_subscriptions", "service subscription", key: text("product")),
            CollectionSchema("applications", "application", key: { app in
                guard let product = app["product"]?.stringValue, let name = app["name"]?.stringValue else { return nil }
                return "\(product)/\(name)"
            }, setFields: ["referrer_filters", "keys"], sectionFields: ["fields"]),
        ], sectionFields: ["fields", "annotations"]),
    ]

    /// Fields that hold credentials; written only with `--include-secrets`.
    public static let secretFields: [String: Set<String>] = [
        "applications": ["user_key", "application_id", "keys"],
        "proxy": ["secret_token", "oidc_issuer_endpoint"],
    ]

    /// Checks a document read from a file: format marker, lists where lists belong, every item named.
    public static func validate(_ document: JSONValue) throws -> JSONObject {
        guard case .object(let root) = document else {
            throw OperationsError("the document must be a mapping with `\(formatField): \(formatVersion)` at its top, as portico export writes it")
        }
        guard let version = root[formatField] else {
            throw OperationsError("the document has no `\(formatField)` field; is it a file written by portico export?")
        }
        guard version.intValue == formatVersion else {
            throw OperationsError("the document is format version \(version.stringValue ?? "?"); this portico reads version \(formatVersion) — use the portico version that wrote it")
        }
        var problems: [String] = []
        func check(_ object: JSONObject, _ schemas: [CollectionSchema], at path: String) {
            for schema in schemas {
                guard let value = object[schema.field] else { continue }
                guard let items = value.arrayValue else {
                    problems.append("\(path)\(schema.field) must be a list")
                    continue
                }
                var seen = Set<String>()
                for (index, item) in items.enumerated() {
                    guard case .object(let child) = item, let key = schema.key(child) else {
                        problems.append("\(path)\(schema.field)[\(index)] is not a \(schema.label) with its naming fields")
                        continue
                    }
                    if !seen.insert(key).inserted { problems.append("\(path)\(schema.field) has two \(schema.label)s named `\(key)`") }
                    check(child, schema.children, at: "\(path)\(schema.field)[\(key)].")
                }
            }
        }
        check(root, collections, at: "")
        if !problems.isEmpty {
            throw OperationsError("the document has \(problems.count) problem(s):\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
        }
        return root
    }

    /// Removes the importer's internal fields (and, unless asked, credentials) before a document is written.
    public static func publishable(_ object: JSONObject, includeSecrets: Bool, field: String? = nil) -> JSONObject {
        var out = JSONObject()
        let secrets = includeSecrets ? [] : (field.flatMap { secretFields[$0] } ?? [])
        for (key, value) in object.entries where !key.hasPrefix(internalPrefix) && !secrets.contains(key) {
            switch value {
            case .object(let inner): out[key] = .object(publishable(inner, includeSecrets: includeSecrets, field: key))
            case .array(let items):
                out[key] = .array(items.map { item in
                    if case .object(let inner) = item { return .object(publishable(inner, includeSecrets: includeSecrets, field: key)) }
                    return item
                })
            default: out[key] = value
            }
        }
        return out
    }
}
