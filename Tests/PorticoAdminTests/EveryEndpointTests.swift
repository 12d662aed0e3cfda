@testable import PorticoAdmin
import PorticoCore
import Testing

/// Sweeps every registered route: authorization failures and unknown ids get 3scale's answers everywhere.
@Suite struct EveryEndpointTests {
    static func routes() -> [AdminRoute] {
        var router = AdminRouter()
        AdminRoutes.register(into: &router)
        return router.routes
    }

    static func path(_ route: AdminRoute) -> String {
        "/" + route.segments.map { segment -> String in
            switch segment {
            case .literal(let l): return l
            case .parameter("environment"): return "sandbox"
            case .parameter: return "999999"
            }
        }.joined(separator: "/") + ".json"
    }

    @Test func everyEndpointRefusesMissingCredentials() async throws {
        let p = try await TestPlatform.make()
        let routes = Self.routes()
        #expect(routes.count > 150)
        for route in routes {
            let host = route.area.isMaster ? "master.localhost" : TestPlatform.host
            let r = await p.call(route.method, Self.path(route), host: host, token: nil, json: route.method == "GET" ? nil : "{}")
            if route.area.isMaster {
                #expect(r.status == 401 && r.text == "unauthorized", "\(route.method) \(Self.path(route)) answered \(r.status)")
            } else {
                #expect(r.status == 403 && r.json == .object(["error": "Access denied"]), "\(route.method) \(Self.path(route)) answered \(r.status)")
            }
        }
    }

    @Test func everyWritingEndpointRefusesReadOnlyTokens() async throws {
        let p = try await TestPlatform.make()
        let ro = await p.call("POST", "/admin/api/personal/access_tokens.json",
                              json: #"{"name":"ro","permission":"ro","scopes":["account_management","policy_registry"]}"#)
        let token = try #require(ro.json?["access_token"]?["value"]?.stringValue)
        for route in Self.routes() where route.method != "GET" {
            guard case .tenant = route.area else { continue }
            let r = await p.call(route.method, Self.path(route), token: token, json: "{}")
            #expect(r.status == 403, "\(route.method) \(Self.path(route)) answered \(r.status) to a read-only token")
            #expect(r.json == .object(["error": "Your access token does not have the correct permissions"]))
        }
    }

    @Test func everyEndpointWithAnUnknownIdIsNotFound() async throws {
        let p = try await TestPlatform.make()
        for route in Self.routes() where route.segments.contains(where: { if case .parameter(let n) = $0 { return n != "environment" } else { return false } }) {
            let master = route.area.isMaster
            let r = await p.call(route.method, Self.path(route), host: master ? "master.localhost" : TestPlatform.host,
                                 token: master ? TestPlatform.masterToken : TestPlatform.adminToken, json: route.method == "GET" ? nil : "{}")
            #expect(r.status == 404, "\(route.method) \(Self.path(route)) answered \(r.status)")
            #expect(r.json == .object(["status": "Not found"]))
        }
    }
}
