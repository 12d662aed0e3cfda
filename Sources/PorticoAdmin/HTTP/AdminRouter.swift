/// Which credentials a route accepts.
enum RouteArea: Sendable {
    /// `/admin/api/*`: a tenant's access token (with one of `scopes`) or provider key.
    case tenant(scopes: Set<String>)
    /// `/admin/api/personal/*`: an access token that belongs to a user.
    case personal
    /// `/master/api/*`: a master admin's access token or the master's `api_key`.
    case master
    /// Endpoints gateways poll for their configuration (access token or provider key, any scope).
    case gatewayConfiguration
}

typealias AdminHandler = @Sendable (AdminCall) async throws -> AdminResponse

struct AdminRoute: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    let method: String
    let segments: [Segment]
    let area: RouteArea
    let handler: AdminHandler
}

/// A table of routes matched segment by segment on the already-decoded path.
struct AdminRouter: Sendable {
    private(set) var routes: [AdminRoute] = []

    static let accountManagement: Set<String> = ["account_management"]

    mutating func add(_ method: String, _ path: String, area: RouteArea = .tenant(scopes: accountManagement), _ handler: @escaping AdminHandler) {
        let segments: [AdminRoute.Segment] = path.split(separator: "/").map { part in
            part.hasPrefix(":") ? .parameter(String(part.dropFirst())) : .literal(String(part))
        }
        routes.append(AdminRoute(method: method, segments: segments, area: area, handler: handler))
    }

    mutating func get(_ path: String, area: RouteArea = .tenant(scopes: accountManagement), _ h: @escaping AdminHandler) { add("GET", path, area: area, h) }
    mutating func post(_ path: String, area: RouteArea = .tenant(scopes: accountManagement), _ h: @escaping AdminHandler) { add("POST", path, area: area, h) }
    mutating func put(_ path: String, area: RouteArea = .tenant(scopes: accountManagement), _ h: @escaping AdminHandler) {
        add("PUT", path, area: area, h)
        add("PATCH", path, area: area, h)
    }
    mutating func delete(_ path: String, area: RouteArea = .tenant(scopes: accountManagement), _ h: @escaping AdminHandler) {
        add("DELETE", path, area: area, h)
    }

    enum Match {
        case found(AdminRoute, [String: String])
        case methodNotAllowed
        case notFound
    }

    func match(method: String, segments: [String]) -> Match {
        let effectiveMethod = method == "HEAD" ? "GET" : method
        var pathMatched = false
        for route in routes where route.segments.count == segments.count {
            var parameters: [String: String] = [:]
            var matched = true
            for (pattern, value) in zip(route.segments, segments) {
                switch pattern {
                case .literal(let literal) where literal == value: continue
                case .literal: matched = false
                case .parameter(let name): parameters[name] = value
                }
                if !matched { break }
            }
            guard matched else { continue }
            if route.method == effectiveMethod { return .found(route, parameters) }
            pathMatched = true
        }
        return pathMatched ? .methodNotAllowed : .notFound
    }
}
