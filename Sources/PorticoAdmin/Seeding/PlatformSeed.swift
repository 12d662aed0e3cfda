import PorticoCore
import PorticoStore

/// First-start seeding of the master account and the first tenant, from 3scale's system-seed names.
/// Idempotent: when the master account exists, nothing is created or changed.
public enum PlatformSeed {
    /// Values from `MASTER_*`, `ADMIN_*`, `TENANT_NAME`; nil means "generate one".
    public struct Inputs: Sendable {
        public var masterUser = "master"
        public var masterPassword: String?
        public var masterAccessToken: String?
        public var adminUser = "admin"
        public var adminPassword: String?
        public var adminAccessToken: String?
        public var adminEmail: String?
        public var tenantName = "provider"
        public init() {}
    }

    public struct Outcome: Sendable {
        public var masterAccountID: Int64
        /// Whether this start created the platform (first start).
        public var created: Bool
        /// Credentials generated because they were not given, to be shown once and written to the credentials file.
        public var generated: [(name: String, value: String)]
    }

    public static func run(store: any RecordStore, inputs: Inputs, settings: AdminSettings, now: Timestamp) async throws -> Outcome {
        if let master = try await store.list(Account.self, tenantID: 0).first(where: { $0.kind == .master }) {
            return Outcome(masterAccountID: master.id, created: false, generated: [])
        }
        return try await store.withTransaction { tx in
            var generated: [(String, String)] = []
            func value(_ given: String?, _ name: String, bytes: Int) -> String {
                if let given, !given.isEmpty { return given }
                let v = Secrets.randomHex(byteCount: bytes)
                generated.append((name, v))
                return v
            }
            let masterPassword = value(inputs.masterPassword, "MASTER_PASSWORD", bytes: 12)
            let masterToken = value(inputs.masterAccessToken, "MASTER_ACCESS_TOKEN", bytes: 32)
            let adminPassword = value(inputs.adminPassword, "ADMIN_PASSWORD", bytes: 12)
            let adminToken = value(inputs.adminAccessToken, "ADMIN_ACCESS_TOKEN", bytes: 32)

            var master = Account(tenantID: 0, kind: .master, orgName: "Master Account", state: .approved, subdomain: settings.masterSubdomain,
                                 providerKey: Secrets.randomHex(byteCount: 16), now: now)
            master = try await tx.insert(master)
            var masterAdmin = User(tenantID: master.id, accountID: master.id, username: inputs.masterUser, email: "master@\(settings.wildcardDomain)",
                                   role: .admin, state: .active, now: now)
            masterAdmin.passwordDigest = try PasswordHasher.hash(masterPassword)
            masterAdmin = try await tx.insert(masterAdmin)
            try await tx.insert(AccessToken(tenantID: master.id, userID: masterAdmin.id, name: "Master Token", scopes: ["account_management"],
                                            permission: .rw, expiresAt: nil, valueDigest: Secrets.tokenDigest(masterToken), now: now))

            let tenant = try await TenantProvisioning.createTenant(
                .init(orgName: inputs.tenantName, username: inputs.adminUser, email: inputs.adminEmail ?? "admin@\(inputs.tenantName).\(settings.wildcardDomain)",
                      password: adminPassword, accessTokenValue: adminToken, tokenScopes: AccessToken.allScopes,
                      subdomain: SystemName.dnsLabel(from: inputs.tenantName)),
                store: tx, masterAccountID: master.id, settings: settings, now: now)
            generated.append(("PROVIDER_KEY", tenant.account.providerKey ?? ""))
            return Outcome(masterAccountID: master.id, created: true, generated: generated.map { (name: $0.0, value: $0.1) })
        }
    }
}
