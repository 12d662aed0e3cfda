import PorticoCore

/// Renders domain values in 3scale's JSON shapes (root keys, key order, types: reference/admin-api.md §1.4).
struct Representer: Sendable {
    /// `scheme://host[:port]` of the request, for `links`.
    let baseURL: String
    let settings: AdminSettings

    func link(_ rel: String, _ path: String) -> JSONValue {
        .object(["rel": .string(rel), "href": .string(baseURL + path)])
    }

    static func strings(_ map: [String: String]) -> JSONValue {
        .object(JSONObject(map.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
    }

    static func time(_ t: Timestamp?) -> JSONValue { t.map { .string($0.iso8601) } ?? .null }

    // MARK: products

    func product(_ p: Product) -> JSONValue {
        .object([
            "service": .object([
                "id": .int(p.id),
                "name": .string(p.name),
                "state": .string(p.state),
                "system_name": .string(p.systemName),
                "backend_version": .string(p.backendVersion),
                "deployment_option": .string(p.deploymentOption),
                "support_email": .optional(p.supportEmail),
                "description": .optional(p.description),
                "intentions_required": .bool(p.intentionsRequired),
                "buyers_manage_apps": .bool(p.buyersManageApps),
                "buyers_manage_keys": .bool(p.buyersManageKeys),
                "referrer_filters_required": .bool(p.referrerFiltersRequired),
                "custom_keys_enabled": .bool(p.customKeysEnabled),
                "buyer_key_regenerate_enabled": .bool(p.buyerKeyRegenerateEnabled),
                "mandatory_app_key": .bool(p.mandatoryAppKey),
                "buyer_can_select_plan": .bool(p.buyerCanSelectPlan),
                "buyer_plan_change_permission": .string(p.buyerPlanChangePermission),
                "notification_settings": p.notificationSettings ?? .null,
                "annotations": Representer.strings(p.annotations),
                "created_at": Representer.time(p.createdAt),
                "updated_at": Representer.time(p.updatedAt),
                "links": .array([
                    link("metrics", "/admin/api/services/\(p.id)/metrics"),
                    link("self", "/admin/api/services/\(p.id)"),
                    link("service_plans", "/admin/api/services/\(p.id)/service_plans"),
                    link("application_plans", "/admin/api/services/\(p.id)/application_plans"),
                    link("features", "/admin/api/services/\(p.id)/features"),
                ]),
            ])
        ])
    }

    /// The proxy object has no `id`: clients build its URL from the product.
    func proxy(_ p: Product, apiBackend: String?) -> JSONValue {
        let x = p.proxy
        return .object([
            "proxy": .object([
                "service_id": .int(p.id),
                "endpoint": .string(x.endpoint),
                "api_backend": .optional(apiBackend),
                "credentials_location": .string(x.credentialsLocation),
                "auth_app_key": .string(x.authAppKey),
                "auth_app_id": .string(x.authAppID),
                "auth_user_key": .string(x.authUserKey),
                "error_auth_failed": .string(x.errorAuthFailed),
                "error_auth_missing": .string(x.errorAuthMissing),
                "error_status_auth_failed": .int(x.errorStatusAuthFailed),
                "error_headers_auth_failed": .string(x.errorHeadersAuthFailed),
                "error_status_auth_missing": .int(x.errorStatusAuthMissing),
                "error_headers_auth_missing": .string(x.errorHeadersAuthMissing),
                "error_no_match": .string(x.errorNoMatch),
                "error_status_no_match": .int(x.errorStatusNoMatch),
                "error_headers_no_match": .string(x.errorHeadersNoMatch),
                "error_limits_exceeded": .string(x.errorLimitsExceeded),
                "error_status_limits_exceeded": .int(x.errorStatusLimitsExceeded),
                "error_headers_limits_exceeded": .string(x.errorHeadersLimitsExceeded),
                "secret_token": .string(x.secretToken),
                "hostname_rewrite": .optional(x.hostnameRewrite),
                "oauth_login_url": .optional(x.oauthLoginURL),
                "sandbox_endpoint": .string(x.sandboxEndpoint),
                "api_test_path": .string(x.apiTestPath),
                "api_test_success": .null,
                "apicast_configuration_driven": true,
                "oidc_issuer_endpoint": .optional(x.oidcIssuerEndpoint),
                "oidc_issuer_type": .string(x.oidcIssuerType),
                "jwt_claim_with_client_id": .optional(x.jwtClaimWithClientID),
                "jwt_claim_with_client_id_type": .optional(x.jwtClaimWithClientIDType),
                "lock_version": .int(x.lockVersion),
                "policies_config": .array(x.policies),
                "deployment_option": .string(p.deploymentOption),
                "created_at": Representer.time(x.createdAt),
                "updated_at": Representer.time(x.updatedAt),
                "links": .array([
                    link("mapping_rules", "/admin/api/services/\(p.id)/proxy/mapping_rules"),
                    link("self", "/admin/api/services/\(p.id)/proxy"),
                    link("service", "/admin/api/services/\(p.id)"),
                    link("proxy_configs", "/admin/api/services/\(p.id)/proxy/configs"),
                ]),
            ])
        ])
    }

    func proxyConfig(_ c: ProxyConfig) -> JSONValue {
        .object([
            "proxy_config": .object([
                "id": .int(c.id),
                "version": .int(c.version),
                "environment": .string(c.environment.rawValue),
                "content": c.content,
                "created_at": Representer.time(c.createdAt),
            ])
        ])
    }

    func policies(_ p: Product) -> JSONValue {
        .object(["policies_config": .array(p.proxy.policies)])
    }

    // MARK: metrics, rules, backends

    func metric(_ m: Metric, productScoped: Bool = true) -> JSONValue {
        let root = m.parentID == nil ? "metric" : "method"
        var o: JSONObject = ["id": .int(m.id)]
        if case .product = m.owner { o["name"] = .string(m.systemName) }
        o["system_name"] = .string(m.systemName)
        o["friendly_name"] = .string(m.friendlyName)
        o["description"] = .optional(m.description)
        o["unit"] = .string(m.unit)
        if let parent = m.parentID { o["parent_id"] = .int(parent) }
        o["created_at"] = Representer.time(m.createdAt)
        o["updated_at"] = Representer.time(m.updatedAt)
        let base: String
        switch m.owner {
        case .product(let id): base = "/admin/api/services/\(id)/metrics"
        case .backend(let id): base = "/admin/api/backend_apis/\(id)/metrics"
        }
        o["links"] = .array(m.parentID.map { [link("parent", "\(base)/\($0)"), link("self", "\(base)/\($0)/methods/\(m.id)")] }
            ?? [link("self", "\(base)/\(m.id)")])
        return .object([root: .object(o)])
    }

    func mappingRule(_ r: MappingRule) -> JSONValue {
        let base: String
        switch r.owner {
        case .product(let id): base = "/admin/api/services/\(id)/proxy/mapping_rules/\(r.id)"
        case .backend(let id): base = "/admin/api/backend_apis/\(id)/mapping_rules/\(r.id)"
        }
        return .object([
            "mapping_rule": .object([
                "id": .int(r.id),
                "metric_id": .int(r.metricID),
                "pattern": .string(r.pattern),
                "http_method": .string(r.httpMethod),
                "delta": .int(r.delta),
                "position": .int(r.position),
                "last": .bool(r.last),
                "redirect_url": .optional(r.redirectURL),
                "owner_id": .int(r.owner.id),
                "owner_type": .string(r.owner.ownerType),
                "created_at": Representer.time(r.createdAt),
                "updated_at": Representer.time(r.updatedAt),
                "links": .array([link("self", base)]),
            ])
        ])
    }

    func backend(_ b: BackendAPI) -> JSONValue {
        .object([
            "backend_api": .object([
                "id": .int(b.id),
                "name": .string(b.name),
                "system_name": .string(b.systemName),
                "description": .optional(b.description),
                "private_endpoint": .string(b.privateEndpoint),
                "account_id": .int(b.tenantID),
                "annotations": Representer.strings(b.annotations),
                "created_at": Representer.time(b.createdAt),
                "updated_at": Representer.time(b.updatedAt),
                "links": .array([
                    link("metrics", "/admin/api/backend_apis/\(b.id)/metrics"),
                    link("mapping_rules", "/admin/api/backend_apis/\(b.id)/mapping_rules"),
                    link("self", "/admin/api/backend_apis/\(b.id)"),
                ]),
            ])
        ])
    }

    func backendUsage(_ u: BackendUsage) -> JSONValue {
        .object([
            "backend_usage": .object([
                "id": .int(u.id),
                "path": .string(u.path),
                "service_id": .int(u.productID),
                "backend_id": .int(u.backendID),
                "created_at": Representer.time(u.createdAt),
                "updated_at": Representer.time(u.updatedAt),
                "links": .array([
                    link("service", "/admin/api/services/\(u.productID)"),
                    link("backend_api", "/admin/api/backend_apis/\(u.backendID)"),
                ]),
            ])
        ])
    }

    // MARK: plans

    func plan(_ p: Plan) -> JSONValue {
        var o: JSONObject = ["id": .int(p.id), "name": .string(p.name), "state": .string(p.state)]
        if p.kind != .account { o["system_name"] = .string(p.systemName) }
        o["description"] = .optional(p.description)
        o["approval_required"] = .bool(p.approvalRequired)
        o["setup_fee"] = .double(p.setupFee)
        o["cost_per_month"] = .double(p.costPerMonth)
        o["trial_period_days"] = .optional(p.trialPeriodDays)
        o["cancellation_period"] = .int(p.cancellationPeriod)
        o["default"] = .bool(p.isDefault)
        if p.kind == .application {
            o["custom"] = .bool(p.custom)
            o["service_id"] = .int(p.issuerID)
        } else if p.kind == .service {
            o["service_id"] = .int(p.issuerID)
        }
        o["created_at"] = Representer.time(p.createdAt)
        o["updated_at"] = Representer.time(p.updatedAt)
        switch p.kind {
        case .application:
            o["links"] = .array([
                link("service", "/admin/api/services/\(p.issuerID)"),
                link("self", "/admin/api/services/\(p.issuerID)/application_plans/\(p.id)"),
            ])
        case .service:
            o["links"] = .array([
                link("service", "/admin/api/services/\(p.issuerID)"),
                link("self", "/admin/api/services/\(p.issuerID)/service_plans/\(p.id)"),
            ])
        case .account:
            o["links"] = .array([link("self", "/admin/api/account_plans/\(p.id)")])
        }
        return .object([p.kind.rootKey: .object(o)])
    }

    func limit(_ l: UsageLimit) -> JSONValue {
        .object([
            "limit": .object([
                "id": .int(l.id),
                "period": .string(l.period.rawValue),
                "value": .int(l.value),
                "metric_id": .int(l.metricID),
                "plan_id": .int(l.planID),
                "created_at": Representer.time(l.createdAt),
                "updated_at": Representer.time(l.updatedAt),
                "links": .array([
                    link("self", "/admin/api/application_plans/\(l.planID)/metrics/\(l.metricID)/limits/\(l.id)"),
                    link("metric", "/admin/api/metrics/\(l.metricID)"),
                    link("plan", "/admin/api/application_plans/\(l.planID)"),
                ]),
            ])
        ])
    }

    func pricingRule(_ r: PricingRule) -> JSONValue {
        .object([
            "pricing_rule": .object([
                "id": .int(r.id),
                "metric_id": .int(r.metricID),
                "cost_per_unit": .string(r.costPerUnit),
                "min": .int(r.min),
                "max": .optional(r.max),
                "plan_id": .int(r.planID),
                "created_at": Representer.time(r.createdAt),
                "updated_at": Representer.time(r.updatedAt),
                "links": .array([link("self", "/admin/api/application_plans/\(r.planID)/metrics/\(r.metricID)/pricing_rules/\(r.id)")]),
            ])
        ])
    }

    func feature(_ f: Feature) -> JSONValue {
        .object([
            "feature": .object([
                "id": .int(f.id),
                "name": .string(f.name),
                "system_name": .string(f.systemName),
                "description": .optional(f.description),
                "scope": .string(f.scope),
                "visible": true,
                "created_at": Representer.time(f.createdAt),
                "updated_at": Representer.time(f.updatedAt),
            ])
        ])
    }
}
