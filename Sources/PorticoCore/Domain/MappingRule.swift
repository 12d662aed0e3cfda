/// Maps a method and path pattern to a metric increment.
public struct MappingRule: Codable, Sendable, Equatable {
    public static let httpMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    public var id: Int64
    public var tenantID: Int64
    public var owner: OwnerReference
    public var httpMethod: String
    public var pattern: String
    public var metricID: Int64
    public var delta: Int64
    public var position: Int64
    public var last: Bool
    public var redirectURL: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: Int64 = 0, tenantID: Int64, owner: OwnerReference, httpMethod: String, pattern: String, metricID: Int64, delta: Int64,
                position: Int64, last: Bool, now: Timestamp) {
        self.id = id
        self.tenantID = tenantID
        self.owner = owner
        self.httpMethod = httpMethod
        self.pattern = pattern
        self.metricID = metricID
        self.delta = delta
        self.position = position
        self.last = last
        self.createdAt = now
        self.updatedAt = now
    }
}
