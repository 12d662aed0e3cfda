import Logging
import PorticoAdmin
import PorticoCore
import PorticoMeteringStore
import PorticoStore

/// A seeded platform on the in-memory store, driven through `AdminAPI` exactly as the HTTP server drives it.
struct TestPlatform {
    static let masterToken = "test-master-token-0123456789"
    static let adminToken = "test-admin-token-0123456789"
    static let host = "provider-admin.localhost:3000"

    let api: AdminAPI
    let store: MemoryRecordStore
    let settings: AdminSettings

    static func make(counters: (any MeteringStorage)? = nil) async throws -> TestPlatform {
        let store = MemoryRecordStore()
        let settings = AdminSettings()
        var inputs = PlatformSeed.Inputs()
        inputs.masterAccessToken = masterToken
        inputs.adminAccessToken = adminToken
        inputs.masterPassword = "master-password"
        inputs.adminPassword = "admin-password"
        let clock: @Sendable () -> Timestamp = { Timestamp(secondsSinceEpoch: 1_700_000_000) }
        let outcome = try await PlatformSeed.run(store: store, inputs: inputs, settings: settings, now: clock())
        let env = AdminEnvironment(settings: settings, store: store, masterAccountID: outcome.masterAccountID, clock: clock, counters: counters)
        return TestPlatform(api: AdminAPI(environment: env, logger: Logger(label: "test")), store: store, settings: settings)
    }

    struct Reply {
        var status: Int
        var body: [UInt8]
        var contentType: String?
        var json: JSONValue? { try? JSONParser.parse(body) }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// `path` may carry a query; `token` is added as `access_token` unless nil.
    func call(_ method: String, _ path: String, host: String? = TestPlatform.host, token: String? = TestPlatform.adminToken,
              json: String? = nil, form: String? = nil, authorization: String? = nil) async -> Reply {
        var target = path
        if let token { target += (path.contains("?") ? "&" : "?") + "access_token=\(token)" }
        let body = Array((json ?? form ?? "").utf8)
        let type = json != nil ? "application/json" : (form != nil ? "application/x-www-form-urlencoded" : nil)
        let reply = await api.handle(.init(method: method, rawPath: target, host: host, authorization: authorization, contentType: type, body: body))
        return Reply(status: reply.status, body: reply.body, contentType: reply.contentType)
    }

    /// Creates a tenant through the Master API and returns its admin token and admin host.
    func createTenant(_ org: String) async throws -> (token: String, host: String, id: Int64) {
        let r = await call("POST", "/master/api/providers.json", host: "master.localhost:3000", token: TestPlatform.masterToken,
                           json: #"{"org_name":"\#(org)","username":"u\#(org)","email":"u@\#(org).test","password":"123456"}"#)
        guard r.status == 201, let token = r.json?["signup"]?["access_token"]?["value"]?.stringValue,
            let domain = r.json?["signup"]?["account"]?["admin_domain"]?.stringValue,
            case .int(let id) = r.json?["signup"]?["account"]?["id"]
        else { throw TestFailure("tenant creation failed: \(r.status) \(r.text)") }
        return (token, domain + ":3000", id)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

extension JSONValue {
    var int: Int64? {
        if case .int(let i) = self { return i }
        return nil
    }
}
