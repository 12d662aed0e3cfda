import PorticoCore

/// Finds the numeric ids of named things on the instance being imported into, from its configuration as
/// `TenantExport` read it (with `_id`s). A name it cannot find means the thing is created later in the run.
struct ConfigurationTarget {
    let document: JSONObject

    struct Unresolved: Error, CustomStringConvertible {
        let description: String
    }

    func items(_ field: String, in object: JSONObject? = nil) -> [JSONObject] {
        (object ?? document)[field]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    func find(_ field: String, key: String, value: String, in object: JSONObject? = nil) -> JSONObject? {
        items(field, in: object).first { $0[key]?.stringValue == value }
    }

    static func id(_ object: JSONObject?) -> Int64? { object?["_id"]?.intValue }

    func product(_ systemName: String) throws -> JSONObject {
        guard let product = find("products", key: "system_name", value: systemName) else { throw Unresolved(description: "product \(systemName) does not exist yet") }
        return product
    }

    func productID(_ systemName: String) throws -> Int64 {
        guard let id = Self.id(try product(systemName)) else { throw Unresolved(description: "product \(systemName) has no id") }
        return id
    }

    func backendID(_ systemName: String) throws -> Int64 {
        guard let id = Self.id(find("backend_apis", key: "system_name", value: systemName)) else {
            throw Unresolved(description: "backend \(systemName) does not exist yet")
        }
        return id
    }

    /// A metric or method: of the named backend when `backend` is given, else of the product (or backend) `owner`.
    func metricID(_ reference: JSONObject, owner: JSONObject) throws -> Int64 {
        guard let name = reference["metric"]?.stringValue else { throw Unresolved(description: "the object names no metric") }
        let metrics: [JSONObject]
        if let backend = reference["backend"]?.stringValue {
            guard let b = find("backend_apis", key: "system_name", value: backend) else { throw Unresolved(description: "backend \(backend) does not exist yet") }
            metrics = items("metrics", in: b)
        } else {
            metrics = items("metrics", in: owner)
        }
        for metric in metrics {
            if metric["system_name"]?.stringValue == name, let id = Self.id(metric) { return id }
            for method in items("methods", in: metric) where method["system_name"]?.stringValue == name {
                if let id = Self.id(method) { return id }
            }
        }
        throw Unresolved(description: "metric \(reference["backend"]?.stringValue.map { "\($0)/" } ?? "")\(name) does not exist yet")
    }

    func planID(product: String, field: String, systemName: String) throws -> Int64 {
        let p = try self.product(product)
        guard let id = Self.id(find(field, key: "system_name", value: systemName, in: p)) else {
            throw Unresolved(description: "plan \(systemName) of product \(product) does not exist yet")
        }
        return id
    }

    func accountPlanID(_ name: String) throws -> Int64 {
        guard let id = Self.id(find("account_plans", key: "name", value: name)) else { throw Unresolved(description: "account plan \(name) does not exist yet") }
        return id
    }

    /// A feature of the product, or of the tenant (account features) when `product` is nil.
    func featureID(product: String?, systemName: String) throws -> Int64 {
        let owner = try product.map { try self.product($0) }
        let field = owner == nil ? "account_features" : "features"
        guard let id = Self.id(find(field, key: "system_name", value: systemName, in: owner)) else {
            throw Unresolved(description: "feature \(systemName) does not exist yet")
        }
        return id
    }
}
