import Foundation
import PorticoTesting
import Testing

/// The gateway inside `portico serve` (staging and production fed by admin in process, metering in process),
/// and a lone gateway loading from a running admin API like APIcast.
@Suite(.serialized) struct GatewayServeTests {
    typealias M = MeteringProcessTests

    static func product(_ p: M.Platform, _ app: M.SeededApplication) throws -> (id: Int, staging: String, production: String) {
        let id = try #require(app.app["service_id"] as? Int)
        let proxy = try M.json(try M.curl(["\(p.admin)/admin/api/services/\(id)/proxy.json?access_token=\(M.token)"]).1)["proxy"] as? [String: Any]
        let staging = try #require(proxy?["sandbox_endpoint"] as? String)
        let production = try #require(proxy?["endpoint"] as? String)
        return (id, host(staging), host(production))
    }

    /// `portico serve --role gateway` on `port` (and the four ports after it), output discarded.
    static func startLoneGateway(port: Int, dataDir: String, environment: [String: String]) throws -> Process {
        let lone = ServeProcessTests.process(["serve", "--role", "gateway", "--data-dir", dataDir, "--bind", "127.0.0.1", "--gateway-port", "\(port)",
                                              "--admin-port", "\(port + 1)", "--metering-port", "\(port + 2)", "--staging-port", "\(port + 3)",
                                              "--management-port", "\(port + 4)"], environment: environment)
        lone.standardOutput = FileHandle.nullDevice
        lone.standardError = FileHandle.nullDevice
        try lone.run()
        return lone
    }

    /// The first answer of a gateway that is starting: polls `url` for up to ten seconds until `done` accepts a reply.
    static func firstReply(_ url: String, host: String, until done: (HTTP.Reply) -> Bool = { $0.status == 200 }) async throws -> HTTP.Reply {
        var reply = HTTP.Reply(status: 0, headers: [:], body: "")
        for _ in 0..<100 {
            reply = (try? HTTP.send(url, headers: [("Host", host)])) ?? reply
            if done(reply) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return reply
    }

    static func host(_ url: String) -> String {
        String(url.split(separator: "/")[1].split(separator: ":")[0])
    }

    @Test func stagingAppliesAtOnceProductionAfterPromotion() async throws {
        let upstream = try StubHTTPServer(handler: GatewayHarness.echo)
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-serve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try await M.start(dir, environment: ["APICAST_MANAGEMENT_API": "debug"])
        defer { _ = ServeProcessTests.stop(p.running) }
        let app = try M.seededApplication(p, dataDir: dir)
        let (id, stagingHost, productionHost) = try Self.product(p, app)
        let staging = "http://127.0.0.1:\(p.running.ports["staging"]!)"
        let production = "http://127.0.0.1:\(p.running.ports["gateway"]!)"

        // A proxy update deploys to staging: the very next request uses it.
        #expect(try M.curl(["-X", "PUT", "\(p.admin)/admin/api/services/\(id)/proxy.json?access_token=\(M.token)",
                            "-d", "api_backend=\(upstream.baseURL)"]).0 == 200)
        let first = try HTTP.send("\(staging)/hello?user_key=\(app.userKey)", headers: [("Host", stagingHost)])
        #expect(first.status == 200 && first.body == "GET /hello?user_key=\(app.userKey)")
        #expect(try HTTP.send("\(staging)/hello?user_key=wrong", headers: [("Host", stagingHost)]).status == 403)
        #expect(try HTTP.send("\(production)/hello?user_key=\(app.userKey)", headers: [("Host", productionHost)]).status == 404)

        // Promote the newest staging version; production serves it at once.
        let configs = try M.json(try M.curl(["\(p.admin)/admin/api/services/\(id)/proxy/configs/sandbox/latest.json?access_token=\(M.token)"]).1)
        let version = try #require((configs["proxy_config"] as? [String: Any])?["version"] as? Int)
        #expect(try M.curl(["-X", "POST", "\(p.admin)/admin/api/services/\(id)/proxy/configs/sandbox/\(version)/promote.json?access_token=\(M.token)",
                            "-d", "to=production"]).0 == 201)
        #expect(try HTTP.send("\(production)/hello?user_key=\(app.userKey)", headers: [("Host", productionHost)]).status == 200)
        // The management API shows production's configuration; admin alone changes it in `serve`.
        let management = "http://127.0.0.1:\(p.running.ports["management"]!)"
        #expect(try HTTP.send("\(management)/config").body.contains(productionHost))
        #expect(try HTTP.send("\(management)/config", method: "PUT", body: #"{"services":[{"id":99}]}"#).status == 409)
        #expect(try HTTP.send("\(management)/config", method: "DELETE").status == 409)

        // A further change reaches staging only, until it is promoted too.
        #expect(try M.curl(["-X", "PUT", "\(p.admin)/admin/api/services/\(id)/proxy.json?access_token=\(M.token)",
                            "-d", "credentials_location=headers"]).0 == 200)
        #expect(try HTTP.send("\(staging)/hello?user_key=\(app.userKey)", headers: [("Host", stagingHost)]).status == 403)
        #expect(try HTTP.send("\(staging)/hello", headers: [("Host", stagingHost), ("user_key", app.userKey)]).status == 200)
        #expect(try HTTP.send("\(production)/hello?user_key=\(app.userKey)", headers: [("Host", productionHost)]).status == 200)

        // Metering counted the authorized calls (three on staging and production, through the in-process client).
        let (_, xml) = try M.curl(["\(p.metering)/transactions/authorize.xml?provider_key=\(app.providerKey)&service_id=\(id)&user_key=\(app.userKey)"])
        #expect(xml.contains("<authorized>true</authorized>"))
        #expect(upstream.requests.count == 4)
    }

    @Test func loneGatewayLoadsFromThePortalAndMetersOverHTTP() async throws {
        let upstream = try StubHTTPServer(handler: GatewayHarness.echo)
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-lone-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try await M.start(dir)
        defer { _ = ServeProcessTests.stop(p.running) }
        let app = try M.seededApplication(p, dataDir: dir)
        let (id, stagingHost, _) = try Self.product(p, app)
        #expect(try M.curl(["-X", "PUT", "\(p.admin)/admin/api/services/\(id)/proxy.json?access_token=\(M.token)",
                            "-d", "api_backend=\(upstream.baseURL)"]).0 == 200)

        // THREESCALE_DEPLOYMENT_ENV=staging: lazy loading, fetched for every request (APIcast's staging defaults).
        let port = LoopbackPorts.base()
        let lone = try Self.startLoneGateway(port: port, dataDir: dir + "/gw", environment: ["THREESCALE_PORTAL_ENDPOINT": "http://\(M.token)@provider-admin.localhost:\(p.running.ports["admin"]!)", "THREESCALE_DEPLOYMENT_ENV": "staging"])
        defer { lone.terminate(); lone.waitUntilExit() }
        let reply = try await Self.firstReply("http://127.0.0.1:\(port)/x?user_key=\(app.userKey)", host: stagingHost)
        #expect(reply.status == 200 && reply.body == "GET /x?user_key=\(app.userKey)")
        #expect(try HTTP.send("http://127.0.0.1:\(port)/x?user_key=wrong", headers: [("Host", stagingHost)]).status == 403)
        // A change in admin is seen by the next request (cache 0).
        #expect(try M.curl(["-X", "PUT", "\(p.admin)/admin/api/services/\(id)/proxy.json?access_token=\(M.token)",
                            "-d", "error_auth_failed=custom+denial"]).0 == 200)
        #expect(try HTTP.send("http://127.0.0.1:\(port)/x?user_key=wrong", headers: [("Host", stagingHost)]).body == "custom denial")
    }

    @Test func loneGatewayBootsFromTheMasterEndpoint() async throws {
        let upstream = try StubHTTPServer(handler: GatewayHarness.echo)
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-master-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let masterToken = "gateway-master-token-0123456789"
        let p = try await M.start(dir, environment: ["MASTER_ACCESS_TOKEN": masterToken])
        defer { _ = ServeProcessTests.stop(p.running) }
        let app = try M.seededApplication(p, dataDir: dir)
        let (id, _, productionHost) = try Self.product(p, app)
        #expect(try M.curl(["-X", "PUT", "\(p.admin)/admin/api/services/\(id)/proxy.json?access_token=\(M.token)", "-d", "api_backend=\(upstream.baseURL)"]).0 == 200)
        let configs = try M.json(try M.curl(["\(p.admin)/admin/api/services/\(id)/proxy/configs/sandbox/latest.json?access_token=\(M.token)"]).1)
        let version = try #require((configs["proxy_config"] as? [String: Any])?["version"] as? Int)
        #expect(try M.curl(["-X", "POST", "\(p.admin)/admin/api/services/\(id)/proxy/configs/sandbox/\(version)/promote.json?access_token=\(M.token)",
                            "-d", "to=production"]).0 == 201)
        // The master endpoint needs the master's token.
        #expect(try M.curl(["-H", "Host: master.localhost", "\(p.admin)/master/api/proxy/configs/production.json?access_token=\(M.token)"]).0 == 401)

        let port = LoopbackPorts.base()
        let admin = p.running.ports["admin"]!
        let lone = try Self.startLoneGateway(port: port, dataDir: dir + "/gw", environment: ["THREESCALE_PORTAL_ENDPOINT": "http://\(masterToken)@master.localhost:\(admin)/master/api/proxy/configs"])
        defer { lone.terminate(); lone.waitUntilExit() }
        let reply = try await Self.firstReply("http://127.0.0.1:\(port)/y?user_key=\(app.userKey)", host: productionHost)
        #expect(reply.status == 200 && reply.body == "GET /y?user_key=\(app.userKey)")
    }

    @Test func lazyLoaderAsksLikeAPIcast() async throws {
        let portal = try StubHTTPServer(handler: { _ in .init(status: 200, headers: [("Content-Type", "application/json")], body: #"{"proxy_configs":[]}"#) })
        defer { portal.stop() }
        let port = LoopbackPorts.base()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-lazy-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lone = try Self.startLoneGateway(port: port, dataDir: dir, environment: ["THREESCALE_PORTAL_ENDPOINT": "http://secret-token@127.0.0.1:\(portal.port)", "APICAST_CONFIGURATION_LOADER": "lazy", "APICAST_CONFIGURATION_CACHE": "0"])
        defer { lone.terminate(); lone.waitUntilExit() }
        let status = try await Self.firstReply("http://127.0.0.1:\(port)/", host: "localhost", until: { $0.status != 0 }).status
        #expect(status == 404)
        let asked = try #require(portal.requests.first)
        #expect(asked.uri == "/admin/api/account/proxy_configs/production.json?host=localhost&version=latest&page=1&per_page=500")
        #expect(asked.header("authorization") == "Basic " + Data("secret-token:".utf8).base64EncodedString())
    }

    /// A lone gateway's deferred authreps to `serve`'s metering port, pipelined per event-loop turn: under concurrent
    /// keep-alive clients every proxied request is counted exactly once.
    @Test func loneGatewayReportsEveryRequestExactlyOnceUnderConcurrency() async throws {
        let upstream = try StubHTTPServer(handler: GatewayHarness.echo)
        defer { upstream.stop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-exact-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = try await M.start(dir)
        defer { _ = ServeProcessTests.stop(p.running) }
        let app = try M.seededApplication(p, dataDir: dir)
        let id = try #require(app.app["service_id"] as? Int)
        #expect(try M.curl(["-X", "POST", "\(p.admin)/admin/api/application_plans/\(app.planID)/metrics/\(app.hitsID)/limits.json?access_token=\(M.token)",
                            "-d", "period=day&value=1000000000"]).0 == 201)
        let service = GatewayHarness.service(id: id, proxy: ["hosts": ["exact.test"], "api_backend": upstream.baseURL,
                                                              "backend": ["endpoint": "http://127.0.0.1:\(p.running.ports["metering"]!)"]])
        var document = service
        document["backend_authentication_type"] = "provider_key"
        document["backend_authentication_value"] = app.providerKey
        let file = dir + "/gateway.json"
        try JSONSerialization.data(withJSONObject: ["services": [document]]).write(to: URL(fileURLWithPath: file))
        let port = LoopbackPorts.base()
        let lone = try Self.startLoneGateway(port: port, dataDir: dir + "/gw", environment: ["THREESCALE_CONFIG_FILE": file])
        defer { lone.terminate(); lone.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)/hits?user_key=\(app.userKey)"
        #expect(try await Self.firstReply(url, host: "exact.test").status == 200)

        // 16 clients, 100 requests each on one keep-alive connection, all at once.
        let config = dir + "/curl.cfg"
        try String(repeating: "url = \"\(url)\"\noutput = /dev/null\n", count: 100).write(toFile: config, atomically: true, encoding: .utf8)
        let clients = (0..<16).map { _ in
            let c = Process()
            c.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            c.arguments = ["-s", "-H", "Host: exact.test", "-K", config, "-w", "%{http_code}\n"]
            c.standardOutput = Pipe()
            return c
        }
        for c in clients { try c.run() }
        var answered: [String] = []
        for c in clients {
            let out = (c.standardOutput as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
            c.waitUntilExit()
            answered += String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        #expect(answered.count == 1600 && answered.allSatisfy { $0 == "200" })

        let authorize = "\(p.metering)/transactions/authorize.xml?provider_key=\(app.providerKey)&user_key=\(app.userKey)"
        var counted: Int?
        for _ in 0..<50 {
            counted = M.currentValue(try M.curl([authorize]).1, period: "day")
            if counted == 1601 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(300))
        let later = M.currentValue(try M.curl([authorize]).1, period: "day")
        #expect(counted == 1601 && later == 1601)
    }

    /// A portal that cannot be reached at boot (`APICAST_CONFIGURATION_LOADER=boot`) ends the gateway with an error that
    /// says so and a failure status; it used to crash on its way out (an HTTP client dropped without being shut down).
    @Test func bootLoadThatFailsEndsWithItsError() async throws {
        let port = LoopbackPorts.base()
        let closed = LoopbackPorts.base(count: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-boot-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, printed) = try ServeProcessTests.run(
            ["serve", "--role", "gateway", "--data-dir", dir, "--bind", "127.0.0.1", "--gateway-port", "\(port)", "--admin-port", "\(port + 1)",
             "--metering-port", "\(port + 2)", "--staging-port", "\(port + 3)", "--management-port", "\(port + 4)"],
            environment: ["THREESCALE_PORTAL_ENDPOINT": "http://token@127.0.0.1:\(closed)", "APICAST_CONFIGURATION_LOADER": "boot"])
        #expect(status != 0)
        #expect(printed.contains("could not load the gateway configuration at boot"), "\(printed.suffix(2000))")
        #expect(!printed.contains("crashed"), "\(printed.suffix(2000))")
    }

    /// `APICAST_SERVICE_<ID>_CONFIGURATION_VERSION`: the gateway asks product by product, each at its version.
    @Test func pinnedVersionsAreFetchedPerProduct() async throws {
        let upstream = try StubHTTPServer(handler: GatewayHarness.echo)
        defer { upstream.stop() }
        let backend = try StubHTTPServer(handler: GatewayHarness.authorizeAll)
        defer { backend.stop() }
        func content(_ id: Int, host: String) throws -> String {
            let service = GatewayHarness.service(id: id, proxy: ["hosts": [host], "api_backend": upstream.baseURL, "backend": ["endpoint": backend.baseURL]])
            return String(decoding: try JSONSerialization.data(withJSONObject: ["proxy_config": ["version": 3, "content": service]]), as: UTF8.self)
        }
        let seven = try content(7, host: "seven.test"), eight = try content(8, host: "eight.test")
        let portal = try StubHTTPServer(handler: { r in
            let json = [("Content-Type", "application/json")]
            switch r.path {
            case "/admin/api/services.json": return .init(status: 200, headers: json, body: #"{"services":[{"service":{"id":7}},{"service":{"id":8}}]}"#)
            case "/admin/api/services/7/proxy/configs/production/3.json": return .init(status: 200, headers: json, body: seven)
            case "/admin/api/services/8/proxy/configs/production/latest.json": return .init(status: 200, headers: json, body: eight)
            default: return .init(status: 404, headers: json, body: #"{"status":"Not found"}"#)
            }
        })
        defer { portal.stop() }
        let port = LoopbackPorts.base()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("portico-gw-pinned-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let lone = try Self.startLoneGateway(port: port, dataDir: dir, environment: ["THREESCALE_PORTAL_ENDPOINT": "http://token@127.0.0.1:\(portal.port)",
                                                                                     "APICAST_SERVICE_7_CONFIGURATION_VERSION": "3"])
        defer { lone.terminate(); lone.waitUntilExit() }
        #expect(try await Self.firstReply("http://127.0.0.1:\(port)/?user_key=k", host: "seven.test").status == 200)
        #expect(try HTTP.send("http://127.0.0.1:\(port)/?user_key=k", headers: [("Host", "eight.test")]).status == 200)
        #expect(portal.requests.map(\.uri) == ["/admin/api/services.json?page=1&per_page=500", "/admin/api/services/7/proxy/configs/production/3.json",
                                               "/admin/api/services/8/proxy/configs/production/latest.json"])
        // Not with a master-style endpoint (a path after the host), as in APIcast.
        let refused = try ServeProcessTests.run(["config", "check", "--role", "gateway"], environment: [
            "THREESCALE_PORTAL_ENDPOINT": "http://token@127.0.0.1:1/master/api/proxy/configs", "APICAST_SERVICE_7_CONFIGURATION_VERSION": "3"])
        #expect(refused.0 == 2 && refused.1.contains("APICAST_SERVICE_<ID>_CONFIGURATION_VERSION needs an endpoint without a path"))
    }
}
