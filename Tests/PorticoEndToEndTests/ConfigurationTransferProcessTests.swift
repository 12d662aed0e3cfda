import Foundation
import Testing

/// `portico export`, `import` and `diff` on the real binary between two real `serve` instances (the second on
/// PostgreSQL when the test database is there): what an operator moving configuration between instances sees.
@Suite(.serialized) struct ConfigurationTransferProcessTests {
    typealias E = ServeProcessTests
    typealias M = MeteringProcessTests
    typealias O = OperationsProcessTests

    /// One admin API call with a JSON body; returns the status and the unwrapped object (`{"service": {...}}` → `{...}`).
    @discardableResult
    static func call(_ p: M.Platform, _ method: String, _ path: String, _ body: String = "{}") throws -> (Int, [String: Any]) {
        let (status, text) = try M.curl(["-X", method, "\(p.admin)\(path)?access_token=\(M.token)", "-H", "Content-Type: application/json", "-d", body])
        let object = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
        let inner = object.count == 1 ? (object.values.first as? [String: Any]) ?? object : object
        return (status, inner)
    }

    static func id(_ p: M.Platform, _ method: String, _ path: String, _ body: String) throws -> Int {
        let (status, object) = try Self.call(p, method, path, body)
        #expect(status == 201, "\(method) \(path) → \(status)")
        return try #require(object["id"] as? Int, "\(path) answered \(object)")
    }

    static func metricID(_ p: M.Platform, _ owner: String, prefix: String) throws -> Int {
        let (_, text) = try M.curl(["\(p.admin)\(owner)/metrics.json?access_token=\(M.token)"])
        let metrics = try #require(try M.json(text)["metrics"] as? [[String: Any]])
        let metric = metrics.compactMap { $0["metric"] as? [String: Any] }.first { ($0["system_name"] as? String)?.hasPrefix(prefix) == true }
        return try #require(metric?["id"] as? Int)
    }

    /// Everything the document covers: a backend with a metric, method and rule; a product using it with a proxy,
    /// a policy chain, a method, a rule, a feature, a plan with limits (on its own and the backend's metrics), a
    /// pricing rule and the feature; a default service plan; an account feature and plan; an ActiveDoc; a developer
    /// account with two users and an application with its own credentials.
    static func populate(_ p: M.Platform) throws {
        let backend = try id(p, "POST", "/admin/api/backend_apis.json",
                             #"{"name":"Inventory","system_name":"inventory","private_endpoint":"http://127.0.0.1:9/inv","description":"stock"}"#)
        let items = try id(p, "POST", "/admin/api/backend_apis/\(backend)/metrics.json", #"{"friendly_name":"Items","system_name":"items","unit":"item"}"#)
        let backendHits = try metricID(p, "/admin/api/backend_apis/\(backend)", prefix: "hits")
        _ = try id(p, "POST", "/admin/api/backend_apis/\(backend)/metrics/\(backendHits)/methods.json", #"{"friendly_name":"List items","system_name":"list_items"}"#)
        _ = try id(p, "POST", "/admin/api/backend_apis/\(backend)/mapping_rules.json", #"{"http_method":"GET","pattern":"/items","delta":2,"metric_id":\#(items)}"#)
        let product = try id(p, "POST", "/admin/api/services.json", #"{"name":"Shop","system_name":"shop","backend_version":"2","description":"the shop"}"#)
        #expect(try Self.call(p, "PUT", "/admin/api/services/\(product)/proxy.json",
                         #"{"error_status_auth_failed":401,"error_auth_failed":"nope","credentials_location":"headers","secret_token":"s3cr3t"}"#).0 == 200)
        #expect(try Self.call(p, "PUT", "/admin/api/services/\(product)/proxy/policies.json", #"""
            {"policies_config":[{"name":"cors","version":"builtin","configuration":{"allow_origin":"*"},"enabled":true},
                                {"name":"apicast","version":"builtin","configuration":{},"enabled":true}]}
            """#).0 == 200)
        _ = try id(p, "POST", "/admin/api/services/\(product)/backend_usages.json", #"{"backend_api_id":\#(backend),"path":"/stock"}"#)
        let hits = try metricID(p, "/admin/api/services/\(product)", prefix: "hits")
        let checkout = try id(p, "POST", "/admin/api/services/\(product)/metrics/\(hits)/methods.json", #"{"friendly_name":"Checkout","system_name":"checkout"}"#)
        _ = try id(p, "POST", "/admin/api/services/\(product)/proxy/mapping_rules.json",
                   #"{"http_method":"POST","pattern":"/checkout$","delta":1,"metric_id":\#(checkout),"last":true}"#)
        let gold = try id(p, "POST", "/admin/api/services/\(product)/features.json", #"{"name":"Gold support","system_name":"gold"}"#)
        let pro = try id(p, "POST", "/admin/api/services/\(product)/application_plans.json",
                         #"{"name":"Pro","system_name":"pro","setup_fee":10.5,"cost_per_month":99,"state_event":"publish"}"#)
        _ = try id(p, "POST", "/admin/api/application_plans/\(pro)/metrics/\(hits)/limits.json", #"{"period":"day","value":1000}"#)
        _ = try id(p, "POST", "/admin/api/application_plans/\(pro)/metrics/\(items)/limits.json", #"{"period":"month","value":50}"#)
        _ = try id(p, "POST", "/admin/api/application_plans/\(pro)/metrics/\(checkout)/pricing_rules.json", #"{"min":1,"max":100,"cost_per_unit":0.5}"#)
        #expect(try Self.call(p, "POST", "/admin/api/application_plans/\(pro)/features.json", #"{"feature_id":\#(gold)}"#).0 == 201)
        let standard = try id(p, "POST", "/admin/api/services/\(product)/service_plans.json", #"{"name":"Standard","system_name":"standard"}"#)
        #expect(try Self.call(p, "PUT", "/admin/api/services/\(product)/service_plans/\(standard)/default.json").0 == 200)
        let invoices = try id(p, "POST", "/admin/api/features.json", #"{"name":"Invoices","system_name":"invoices"}"#)
        let partner = try id(p, "POST", "/admin/api/account_plans.json", #"{"name":"Partner","approval_required":false}"#)
        #expect(try Self.call(p, "POST", "/admin/api/account_plans/\(partner)/features.json", #"{"feature_id":\#(invoices)}"#).0 == 201)
        _ = try id(p, "POST", "/admin/api/active_docs.json", #"""
            {"name":"Shop spec","system_name":"shop-spec","service_id":\#(product),"published":true,
             "body":"{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"Shop\",\"version\":\"1\"},\"paths\":{}}"}
            """#)
        let account = try id(p, "POST", "/admin/api/signup.json",
                             #"{"org_name":"Acme","username":"wile","email":"wile@acme.test","account_plan_id":\#(partner)}"#)
        _ = try id(p, "POST", "/admin/api/accounts/\(account)/users.json", #"{"username":"road","email":"road@acme.test"}"#)
        _ = try id(p, "POST", "/admin/api/accounts/\(account)/applications.json",
                   #"{"plan_id":\#(pro),"name":"Acme shop app","description":"checkout bot","application_id":"acme-app-1","application_key":"acme-key-1"}"#)
    }

    static func portico(_ arguments: [String], _ p: M.Platform) throws -> O.Outcome {
        try O.portico(arguments + ["--token", M.token], environment: [:])
    }

    @Test func exportImportDiffBetweenInstances() async throws {
        let source = O.temporaryDirectory("export-source"), target = O.temporaryDirectory("export-target")
        let work = O.temporaryDirectory("export-files")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { for d in [source, target, work] { try? FileManager.default.removeItem(atPath: d) } }
        let a = try await M.start(source)
        defer { _ = E.stop(a.running) }
        let targetEnvironment = try O.freshPostgresDatabase().map { ["DATABASE_URL": $0] } ?? [:]
        let b = try await M.start(target, environment: targetEnvironment)
        defer { _ = E.stop(b.running) }
        try Self.populate(a)

        // Export, then the same document into the empty instance.
        let file = work + "/tenant.yaml"
        let exported = try Self.portico(["export", "--from", a.admin, "--output", file], a)
        #expect(exported.status == 0, "\(exported.errors)")
        #expect(exported.output.contains("2 products"), "\(exported.output)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("system_name: shop") && text.contains("pattern: /checkout$") && text.contains("org_name: Acme"))
        #expect(!text.contains("s3cr3t") && !text.contains("acme-app-1") && !text.contains("acme-key-1"), "credentials only with --include-secrets")
        #expect(try Self.portico(["export", "--from", a.admin, "--output", file], a).status == 1, "export never overwrites a file")

        // The token may come from the environment instead of the command line (where `ps` shows it).
        let before = try O.portico(["diff", file, "--to", b.admin], environment: ["PORTICO_ACCESS_TOKEN": M.token])
        #expect(before.status == 2 && before.output.contains("+ product shop"), "\(before.output)\(before.errors)")
        let dryRun = try Self.portico(["import", file, "--to", b.admin, "--dry-run"], b)
        #expect(dryRun.status == 0 && dryRun.output.contains("dry run: nothing was changed"), "\(dryRun.output)\(dryRun.errors)")
        #expect(try Self.portico(["diff", file, "--to", b.admin], b).status == 2, "--dry-run changed nothing")

        let imported = try Self.portico(["import", file, "--to", b.admin], b)
        #expect(imported.status == 0, "\(imported.output)\(imported.errors)")
        #expect(imported.output.contains("created product shop") && imported.output.contains("created account Acme"), "\(imported.output)")
        let clean = try Self.portico(["diff", file, "--to", b.admin], b)
        #expect(clean.status == 0 && clean.output.contains("no drift"), "\(clean.output)\(clean.errors)")

        // Reading the target back gives the same document (apart from where it was read).
        let back = work + "/back.yaml"
        #expect(try Self.portico(["export", "--from", b.admin, "--output", back], b).status == 0)
        let unplaced = { (t: String) in t.split(separator: "\n").filter { !$0.hasPrefix("exported_from:") }.joined(separator: "\n") }
        #expect(unplaced(try String(contentsOfFile: back, encoding: .utf8)) == unplaced(text))

        // --promote puts the imported products' staging configuration in production (once).
        let shopID = try #require(try Self.productID(b, "shop"))
        #expect(try Self.call(b, "GET", "/admin/api/services/\(shopID)/proxy/configs/production/latest.json").0 == 404)
        let promoted = try Self.portico(["import", file, "--to", b.admin, "--promote"], b)
        #expect(promoted.status == 0 && promoted.output.contains("promoted product shop"), "\(promoted.output)\(promoted.errors)")
        #expect(try Self.call(b, "GET", "/admin/api/services/\(shopID)/proxy/configs/production/latest.json").0 == 200)
        #expect(!(try Self.portico(["import", file, "--to", b.admin, "--promote"], b).output.contains("promoted product shop")))

        // Importing again changes nothing.
        let again = try Self.portico(["import", file, "--to", b.admin], b)
        #expect(again.status == 0 && again.output.contains("nothing to do"), "\(again.output)\(again.errors)")
        #expect(!again.output.contains("created") && !again.output.contains("changed "), "\(again.output)")

        // A change on the target is drift; upsert puts it back.
        let shop = try #require(try Self.productID(b, "shop"))
        #expect(try Self.call(b, "PUT", "/admin/api/services/\(shop).json", #"{"name":"Renamed by hand"}"#).0 == 200)
        let drift = try Self.portico(["diff", file, "--to", b.admin], b)
        #expect(drift.status == 2 && drift.output.contains(#"name: "Renamed by hand" → "Shop""#), "\(drift.output)")

        // Something only on the target: upsert keeps it, replace lists it and deletes it only when confirmed.
        let extra = try Self.id(b, "POST", "/admin/api/backend_apis.json", #"{"name":"Extra","system_name":"extra","private_endpoint":"http://127.0.0.1:9/x"}"#)
        let upsert = try Self.portico(["import", file, "--to", b.admin], b)
        #expect(upsert.status == 0 && upsert.output.contains("changed product shop (name)"), "\(upsert.output)\(upsert.errors)")
        #expect(upsert.output.contains("= backend extra") && !upsert.output.contains("deleted backend extra"), "\(upsert.output)")
        let unconfirmed = try Self.portico(["import", file, "--to", b.admin, "--mode", "replace"], b)
        #expect(unconfirmed.status == 1 && unconfirmed.output.contains("- backend extra") && unconfirmed.errors.contains("--yes"),
                "\(unconfirmed.output)\(unconfirmed.errors)")
        #expect(try Self.call(b, "GET", "/admin/api/backend_apis/\(extra).json").0 == 200, "nothing deleted without --yes")
        let replaced = try Self.portico(["import", file, "--to", b.admin, "--mode", "replace", "--yes"], b)
        #expect(replaced.status == 0, "\(replaced.output)\(replaced.errors)")
        let shown = try #require(replaced.output.range(of: "- backend extra")), done = try #require(replaced.output.range(of: "deleted backend extra"))
        #expect(shown.lowerBound < done.lowerBound, "the deletion is listed before it is done")
        #expect(try Self.call(b, "GET", "/admin/api/backend_apis/\(extra).json").0 == 404)
        #expect(try Self.portico(["diff", file, "--to", b.admin], b).status == 0)

        // With --include-secrets the credentials move too.
        let secrets = work + "/secrets.yaml"
        #expect(try Self.portico(["export", "--from", a.admin, "--output", secrets, "--include-secrets"], a).status == 0)
        #expect(try String(contentsOfFile: secrets, encoding: .utf8).contains("acme-key-1"))
        let conflict = try Self.portico(["import", secrets, "--to", b.admin], b)
        #expect(conflict.status == 1 && conflict.errors.contains("application_id") && conflict.errors.contains("Acme shop app"), "\(conflict.errors)")
        let (_, listed) = try M.curl(["\(b.admin)/admin/api/applications/find.json?access_token=\(M.token)&app_id=acme-app-1"])
        #expect(listed.contains("Not found"), "nothing was changed")
        let accounts = try M.json(try M.curl(["\(b.admin)/admin/api/accounts.json?access_token=\(M.token)"]).1)
        let acme = try #require((accounts["accounts"] as? [[String: Any]])?.compactMap { $0["account"] as? [String: Any] }
            .first { $0["org_name"] as? String == "Acme" }?["id"] as? Int)
        let apps = try M.json(try M.curl(["\(b.admin)/admin/api/accounts/\(acme)/applications.json?access_token=\(M.token)"]).1)
        let shopApp = try #require((apps["applications"] as? [[String: Any]])?.compactMap { $0["application"] as? [String: Any] }
            .first { $0["name"] as? String == "Acme shop app" }?["id"] as? Int)
        #expect(try Self.call(b, "DELETE", "/admin/api/accounts/\(acme)/applications/\(shopApp).json").0 == 200)
        let withKeys = try Self.portico(["import", secrets, "--to", b.admin], b)
        #expect(withKeys.status == 0, "\(withKeys.output)\(withKeys.errors)")
        let (_, found) = try M.curl(["\(b.admin)/admin/api/applications/find.json?access_token=\(M.token)&app_id=acme-app-1"])
        #expect(found.contains("\"application_id\":\"acme-app-1\""), "\(found)")
        #expect(try Self.portico(["diff", secrets, "--to", b.admin], b).status == 0)

        // A broken document is refused with the reason, before anything is read or changed.
        let broken = work + "/broken.yaml"
        try "portico_configuration: 1\nproducts:\n- name: no system name\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let refused = try Self.portico(["import", broken, "--to", b.admin], b)
        #expect(refused.status == 1 && refused.errors.contains("products[0] is not a product"), "\(refused.errors)")
    }

    static func productID(_ p: M.Platform, _ systemName: String) throws -> Int? {
        let services = try M.json(try M.curl(["\(p.admin)/admin/api/services.json?access_token=\(M.token)"]).1)
        return (services["services"] as? [[String: Any]])?.compactMap { $0["service"] as? [String: Any] }
            .first { $0["system_name"] as? String == systemName }?["id"] as? Int
    }
}
