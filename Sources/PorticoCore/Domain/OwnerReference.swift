/// What a metric or mapping rule belongs to: a product or a backend API.
public enum OwnerReference: Codable, Sendable, Hashable {
    case product(Int64)
    case backend(Int64)

    public var id: Int64 {
        switch self {
        case .product(let id), .backend(let id): return id
        }
    }

    /// porta's `owner_type` as the gateway document spells it.
    public var ownerType: String {
        switch self {
        case .product: return "Proxy"
        case .backend: return "BackendApi"
        }
    }
}
