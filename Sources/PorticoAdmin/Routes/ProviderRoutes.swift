import PorticoCore
import PorticoStore

/// `/admin/api/provider` (the tenant's own account) and `/admin/api/webhooks`.
enum ProviderRoutes {
    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/provider") { call in
            .json(call.representer.providerAccount(try await call.currentTenantAccount()))
        }
        r.put("/admin/api/provider") { call in
            try UserRoutes.requireAdmin(call)
            var account = try await call.currentTenantAccount()
            let params = try call.unwrapped("account")
            var errors = ValidationErrors()
            for (key, path) in [("from_email", \Account.fromEmail), ("support_email", \.supportEmail), ("finance_support_email", \.financeSupportEmail)]
            where params.has(key) {
                let value = params.nonEmpty(key)
                if let value, !UserRoutes.isEmail(value) { errors.add(key, "should look like an email address") } else { account[keyPath: path] = value }
            }
            if params.has("site_access_code") { account.siteAccessCode = params.nonEmpty("site_access_code") }
            if params.has("org_name") {
                if let name = params.nonEmpty("org_name") { account.orgName = name } else { errors.add("org_name", "can't be blank") }
            }
            try errors.throwIfAny()
            account.updatedAt = call.now
            try await call.store.update(account)
            return .json(call.representer.providerAccount(account))
        }

        r.get("/admin/api/webhooks") { call in
            .json(call.representer.webhook(try await call.currentTenantAccount().webhook ?? WebhookSettings()))
        }
        r.put("/admin/api/webhooks") { call in
            var account = try await call.currentTenantAccount()
            let params = try call.unwrapped("web_hook")
            var hook = account.webhook ?? WebhookSettings()
            if let url = params.string("url") {
                guard url.isEmpty || EndpointNormalization.isValidURL(url) else { throw AdminError.validation("url", "is invalid") }
                hook.url = url
            }
            if let v = params.bool("active") { hook.active = v }
            if let v = params.bool("provider_actions") { hook.providerActions = v }
            for name in WebhookSettings.eventNames {
                if let v = params.bool(name) { hook.events[name] = v }
            }
            account.webhook = hook
            account.updatedAt = call.now
            try await call.store.update(account)
            return .json(call.representer.webhook(hook))
        }
    }
}
