import PorticoAdmin
import PorticoCore
import Testing

@Suite struct AuthorizationTests {
    @Test func missingOrWrongCredentialsAreAccessDenied() async throws {
        let p = try await TestPlatform.make()
        for token in [nil, "nope-not-a-token"] as [String?] {
            let r = await p.call("GET", "/admin/api/services.json", token: token)
            #expect(r.status == 403)
            #expect(r.json == .object(["error": "Access denied"]))
        }
    }

    @Test func providerKeyAndBasicAuthWork() async throws {
        let p = try await TestPlatform.make()
        let provider = await p.call("GET", "/admin/api/provider.json").json?["account"]
        #expect(provider?["admin_domain"] == "provider-admin.localhost")
        let tenants = try await p.store.list(Account.self, tenantID: 1)
        let key = try #require(tenants.first { $0.kind == .provider }?.providerKey)
        #expect(await p.call("GET", "/admin/api/services.json?provider_key=\(key)", token: nil).status == 200)
        let basic = "Basic " + base64(TestPlatform.adminToken + ":")
        #expect(await p.call("GET", "/admin/api/services.json", token: nil, authorization: basic).status == 200)
        // Personal endpoints need a user, which a provider key does not have.
        #expect(await p.call("GET", "/admin/api/personal/access_tokens.json?provider_key=\(key)", token: nil).status == 403)
    }

    @Test func readOnlyTokensCannotWriteAndScopesAreEnforced() async throws {
        let p = try await TestPlatform.make()
        let ro = await p.call("POST", "/admin/api/personal/access_tokens.json", json: #"{"name":"ro","permission":"ro","scopes":["account_management"]}"#)
        #expect(ro.status == 201)
        let roValue = try #require(ro.json?["access_token"]?["value"]?.stringValue)
        #expect(await p.call("GET", "/admin/api/services.json", token: roValue).status == 200)
        let write = await p.call("POST", "/admin/api/services.json", token: roValue, json: #"{"name":"x"}"#)
        #expect(write.status == 403)
        #expect(write.json == .object(["error": "Your access token does not have the correct permissions"]))

        let stats = await p.call("POST", "/admin/api/personal/access_tokens.json", json: #"{"name":"s","permission":"rw","scopes":["stats"]}"#)
        let statsValue = try #require(stats.json?["access_token"]?["value"]?.stringValue)
        #expect(await p.call("GET", "/admin/api/services.json", token: statsValue).status == 403)
        // The token value is shown once: reading it back never includes it.
        let id = try #require(stats.json?["access_token"]?["id"]?.int)
        #expect(await p.call("GET", "/admin/api/personal/access_tokens/\(id).json").json?["access_token"]?["value"] == nil)
    }

    @Test func hostsSelectTheTenantAndCredentialsMustMatchIt() async throws {
        let p = try await TestPlatform.make()
        let other = try await p.createTenant("acme")
        // acme's token on provider's admin host, and on a developer-portal host: refused.
        #expect(await p.call("GET", "/admin/api/services.json", token: other.token).status == 403)
        #expect(await p.call("GET", "/admin/api/services.json", host: "provider.localhost", token: TestPlatform.adminToken).status == 403)
        // On a neutral host (localhost), the token picks the tenant.
        let own = await p.call("GET", "/admin/api/provider.json", host: "localhost:3000", token: other.token)
        #expect(own.json?["account"]?["org_name"] == "acme")
        #expect(await p.call("GET", "/admin/api/services.json", host: other.host, token: other.token).status == 200)
    }

    @Test func noTenantCanReachAnotherTenantsRecords() async throws {
        let p = try await TestPlatform.make()
        let other = try await p.createTenant("acme")
        let mine = await p.call("POST", "/admin/api/services.json", json: #"{"name":"Private"}"#)
        let id = try #require(mine.json?["service"]?["id"]?.int)
        let accounts = await p.call("GET", "/admin/api/accounts.json")
        let accountID = try #require(accounts.json?["accounts"]?.arrayValue?.first?["account"]?["id"]?.int)
        for (method, path) in [("GET", "/admin/api/services/\(id).json"), ("PUT", "/admin/api/services/\(id).json"),
                               ("DELETE", "/admin/api/services/\(id).json"), ("GET", "/admin/api/services/\(id)/proxy.json"),
                               ("GET", "/admin/api/accounts/\(accountID).json"), ("GET", "/admin/api/accounts/\(accountID)/applications.json")] {
            let r = await p.call(method, path, host: other.host, token: other.token, json: method == "PUT" ? #"{"name":"stolen"}"# : nil)
            #expect(r.status == 404, "\(method) \(path) answered \(r.status)")
        }
        #expect(await p.call("GET", "/admin/api/services/\(id).json").json?["service"]?["name"] == "Private")
        let theirs = await p.call("GET", "/admin/api/services.json", host: other.host, token: other.token)
        #expect(theirs.json?["services"]?.arrayValue?.count == 1)
    }

    @Test func masterAPIRequiresTheMaster() async throws {
        let p = try await TestPlatform.make()
        let anonymous = await p.call("POST", "/master/api/providers.json", host: "master.localhost", token: nil, json: "{}")
        #expect(anonymous.status == 401)
        #expect(anonymous.text == "unauthorized")
        #expect(await p.call("GET", "/master/api/providers/2.json", host: "localhost", token: TestPlatform.adminToken).status == 401)
        #expect(await p.call("GET", "/master/api/providers/2.json", host: TestPlatform.host, token: TestPlatform.masterToken).status == 403)
    }

    @Test func membersSeeOnlyTheirSectionsAndProducts() async throws {
        let p = try await TestPlatform.make()
        let u = await p.call("POST", "/admin/api/users.json", json: #"{"username":"mem","email":"m@x.test","password":"123456"}"#)
        let userID = try #require(u.json?["user"]?["id"]?.int)
        #expect(await p.call("PUT", "/admin/api/users/\(userID)/activate.json").status == 200)
        let product = await p.call("POST", "/admin/api/services.json", json: #"{"name":"Allowed"}"#)
        let productID = try #require(product.json?["service"]?["id"]?.int)
        let perms = await p.call("PUT", "/admin/api/users/\(userID)/permissions.json",
                                 form: "allowed_service_ids%5B%5D=\(productID)&allowed_sections%5B%5D=partners")
        #expect(perms.json?["permissions"]?["allowed_service_ids"] == .array([.int(productID)]))
        // A member's token: issue one through the admin endpoint for that user.
        let t = await p.call("POST", "/admin/api/users/\(userID)/access_tokens.json", json: #"{"name":"m","permission":"rw","scopes":["account_management"]}"#)
        let memberToken = try #require(t.json?["access_token"]?["value"]?.stringValue)
        let visible = await p.call("GET", "/admin/api/services.json", token: memberToken)
        #expect(visible.json?["services"]?.arrayValue?.compactMap { $0["service"]?["id"]?.int } == [productID])
        #expect(await p.call("GET", "/admin/api/services/1.json", token: memberToken).status == 404)
        #expect(await p.call("POST", "/admin/api/users.json", token: memberToken, json: #"{"username":"x","email":"x@x.x","password":"1"}"#).status == 403)
    }

    func base64(_ s: String) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        let bytes = Array(s.utf8)
        var out = ""
        var i = 0
        while i < bytes.count {
            let chunk = Array(bytes[i..<min(i + 3, bytes.count)])
            let n = (UInt32(chunk[0]) << 16) | (chunk.count > 1 ? UInt32(chunk[1]) << 8 : 0) | (chunk.count > 2 ? UInt32(chunk[2]) : 0)
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            out.append(chunk.count > 1 ? table[Int(n >> 6 & 63)] : "=")
            out.append(chunk.count > 2 ? table[Int(n & 63)] : "=")
            i += 3
        }
        return out
    }
}
