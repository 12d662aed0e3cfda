import PorticoCore

extension Representer {
    func buyerAccount(_ a: Account, planName: String? = nil) -> JSONValue {
        var o: JSONObject = [
            "id": .int(a.id),
            "created_at": Representer.time(a.createdAt),
            "updated_at": Representer.time(a.updatedAt),
            "state": .string(a.state.rawValue),
            "org_name": .string(a.orgName),
        ]
        for (k, v) in a.extraFields.sorted(by: { $0.key < $1.key }) where o[k] == nil { o[k] = .string(v) }
        o["annotations"] = Representer.strings(a.annotations)
        o["credit_card_stored"] = false
        o["monthly_billing_enabled"] = .bool(a.monthlyBillingEnabled)
        o["monthly_charging_enabled"] = .bool(a.monthlyChargingEnabled)
        o["links"] = .array([
            link("self", "/admin/api/accounts/\(a.id)"),
            link("users", "/admin/api/accounts/\(a.id)/users"),
        ])
        return .object(["account": .object(o)])
    }

    /// A provider (tenant) account as `GET /admin/api/provider` and the Master API show it.
    func providerAccount(_ a: Account) -> JSONValue {
        var o: JSONObject = [
            "id": .int(a.id),
            "created_at": Representer.time(a.createdAt),
            "updated_at": Representer.time(a.updatedAt),
            "state": .string(a.state.rawValue),
            "org_name": .string(a.orgName),
        ]
        for (k, v) in a.extraFields.sorted(by: { $0.key < $1.key }) where o[k] == nil { o[k] = .string(v) }
        o["annotations"] = Representer.strings(a.annotations)
        o["admin_domain"] = .string(settings.adminDomain(of: a))
        o["domain"] = .string(settings.developerDomain(of: a))
        o["admin_base_url"] = .string(settings.adminBaseURL(of: a))
        o["base_url"] = .string(settings.developerBaseURL(of: a))
        o["from_email"] = .optional(a.fromEmail)
        o["support_email"] = .optional(a.supportEmail)
        o["finance_support_email"] = .optional(a.financeSupportEmail)
        o["site_access_code"] = .optional(a.siteAccessCode)
        o["monthly_billing_enabled"] = .bool(a.monthlyBillingEnabled)
        o["monthly_charging_enabled"] = .bool(a.monthlyChargingEnabled)
        o["links"] = .array([link("self", "/admin/api/provider")])
        return .object(["account": .object(o)])
    }

    func user(_ u: User, buyer: Bool) -> JSONValue {
        var o: JSONObject = [
            "id": .int(u.id),
            "created_at": Representer.time(u.createdAt),
            "updated_at": Representer.time(u.updatedAt),
            "account_id": .int(u.accountID),
            "state": .string(u.state.rawValue),
            "role": .string(u.role.rawValue),
            "username": .string(u.username),
            "email": .string(u.email),
        ]
        for (k, v) in u.extraFields.sorted(by: { $0.key < $1.key }) where o[k] == nil { o[k] = .string(v) }
        let path = buyer ? "/admin/api/accounts/\(u.accountID)/users/\(u.id)" : "/admin/api/users/\(u.id)"
        o["links"] = .array([link("self", path), link("account", buyer ? "/admin/api/accounts/\(u.accountID)" : "/admin/api/provider")])
        return .object(["user": .object(o)])
    }

    func permissions(_ u: User) -> JSONValue {
        let sections: [String] = u.role == .admin ? User.sections.sorted() : (u.allowedSections ?? []).sorted()
        let services: JSONValue = u.role == .admin ? .null : (u.allowedServiceIDs.map { .array($0.map { .int($0) }) } ?? .null)
        return .object([
            "permissions": .object([
                "user_id": .int(u.id),
                "role": .string(u.role.rawValue),
                "allowed_sections": .array(sections.map { .string($0) }),
                "allowed_service_ids": services,
                "links": .array([link("user", "/admin/api/users/\(u.id)"), link("self", "/admin/api/users/\(u.id)/permissions")]),
            ])
        ])
    }

    func accessToken(_ t: AccessToken, value: String? = nil) -> JSONValue {
        var o: JSONObject = [
            "id": .int(t.id),
            "name": .string(t.name),
            "scopes": .array(t.scopes.map { .string($0) }),
            "permission": .string(t.permission.rawValue),
            "expires_at": Representer.time(t.expiresAt),
            "created_at": Representer.time(t.createdAt),
        ]
        if let value { o["value"] = .string(value) }
        return .object(["access_token": .object(o)])
    }

    func application(_ app: ClientApplication, product: Product?, plan: Plan?, account: Account?) -> JSONValue {
        var o: JSONObject = [
            "id": .int(app.id),
            "state": .string(app.state.rawValue),
            "enabled": .bool(app.state == .live),
            "end_user_required": false,
            "created_at": Representer.time(app.createdAt),
            "updated_at": Representer.time(app.updatedAt),
            "service_id": .int(app.productID),
            "service_name": .optional(product?.name),
            "plan_id": .int(app.planID),
            "plan_name": .optional(plan?.name),
            "account_id": .int(app.accountID),
            "org_name": .optional(account?.orgName),
        ]
        let version = product?.backendVersion ?? "1"
        if version == "1" {
            o["user_key"] = .string(app.userKey)
            o["provider_verification_key"] = .string(app.providerVerificationKey)
        } else {
            o["application_id"] = .string(app.applicationID)
            if version == "oidc" { o["client_id"] = .string(app.applicationID) }
            o["redirect_url"] = .optional(app.redirectURL)
        }
        o["first_traffic_at"] = Representer.time(app.firstTrafficAt)
        o["first_daily_traffic_at"] = Representer.time(app.firstDailyTrafficAt)
        o["name"] = .string(app.name)
        o["description"] = .optional(app.description)
        for (k, v) in app.extraFields.sorted(by: { $0.key < $1.key }) where o[k] == nil { o[k] = .string(v) }
        o["links"] = .array([
            link("self", "/admin/api/accounts/\(app.accountID)/applications/\(app.id)"),
            link("service", "/admin/api/services/\(app.productID)"),
            link("account", "/admin/api/accounts/\(app.accountID)"),
            link("plan", "/admin/api/services/\(app.productID)/application_plans/\(app.planID)"),
            link("keys", "/admin/api/accounts/\(app.accountID)/applications/\(app.id)/keys"),
        ])
        return .object(["application": .object(o)])
    }

    func applicationKey(_ key: ClientApplication.Key, app: ClientApplication) -> JSONValue {
        .object([
            "key": .object([
                "value": .string(key.value),
                "created_at": Representer.time(key.createdAt),
                "updated_at": Representer.time(key.createdAt),
                "links": .array([link("application", "/admin/api/accounts/\(app.accountID)/applications/\(app.id)")]),
            ])
        ])
    }

    func referrerFilter(_ f: ClientApplication.ReferrerFilter, app: ClientApplication) -> JSONValue {
        .object([
            "referrer_filter": .object([
                "id": .int(f.id),
                "value": .string(f.value),
                "created_at": Representer.time(f.createdAt),
                "updated_at": Representer.time(f.createdAt),
                "links": .array([link("application", "/admin/api/accounts/\(app.accountID)/applications/\(app.id)")]),
            ])
        ])
    }

    func subscription(_ s: ServiceSubscription) -> JSONValue {
        .object([
            "service_subscription": .object([
                "id": .int(s.id),
                "plan_id": .int(s.planID),
                "user_account_id": .int(s.accountID),
                "service_id": .int(s.productID),
                "state": .string(s.state),
                "created_at": Representer.time(s.createdAt),
                "updated_at": Representer.time(s.updatedAt),
                "links": .array([
                    link("self", "/admin/api/accounts/\(s.accountID)/service_subscriptions/\(s.id)"),
                    link("account", "/admin/api/accounts/\(s.accountID)"),
                    link("service", "/admin/api/services/\(s.productID)"),
                ]),
            ])
        ])
    }

    func activeDoc(_ d: ActiveDoc) -> JSONValue {
        .object([
            "api_doc": .object([
                "id": .int(d.id),
                "system_name": .string(d.systemName),
                "name": .string(d.name),
                "description": .optional(d.description),
                "published": .bool(d.published),
                "skip_swagger_validations": .bool(d.skipSwaggerValidations),
                "body": .string(d.body),
                "service_id": .optional(d.productID),
                "created_at": Representer.time(d.createdAt),
                "updated_at": Representer.time(d.updatedAt),
            ])
        ])
    }

    func fieldsDefinition(_ f: FieldsDefinition) -> JSONValue {
        .object([
            "fields_definition": .object([
                "id": .int(f.id),
                "created_at": Representer.time(f.createdAt),
                "updated_at": Representer.time(f.updatedAt),
                "target": .string(f.target),
                "hidden": .bool(f.hidden),
                "required": .bool(f.required),
                "label": .string(f.label),
                "name": .string(f.name),
                "choices": .array(f.choices.map { .string($0) }),
                "read_only": .bool(f.readOnly),
                "position": .int(f.position),
            ])
        ])
    }

    func webhook(_ w: WebhookSettings) -> JSONValue {
        var o: JSONObject = ["url": .string(w.url), "active": .bool(w.active), "provider_actions": .bool(w.providerActions)]
        for name in WebhookSettings.eventNames { o[name] = .bool(w.events[name] ?? false) }
        return .object(["webhook": .object(o)])
    }
}
