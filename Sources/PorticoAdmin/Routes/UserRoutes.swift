import PorticoCore
import PorticoStore

/// Provider users (`/admin/api/users`), their permissions and access tokens, and shared user logic.
enum UserRoutes {
    static let events = ["activate", "suspend", "unsuspend", "admin", "member"]

    static func register(into r: inout AdminRouter) {
        r.get("/admin/api/users") { call in
            var users = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(call.tenantID))
            if let state = call.params.nonEmpty("state") { users = users.filter { $0.state.rawValue == state } }
            if let role = call.params.nonEmpty("role") { users = users.filter { $0.role.rawValue == role } }
            return AdminCall.collection("users", users.map { call.representer.user($0, buyer: false) })
        }
        r.post("/admin/api/users") { call in
            try requireAdmin(call)
            let params = try call.unwrapped("user")
            let user = try await create(call, accountID: call.tenantID, params: params, requirePassword: true)
            return .created(call.representer.user(user, buyer: false))
        }
        r.get("/admin/api/users/:id") { call in
            .json(call.representer.user(try await call.requireUser(try call.id("id"), accountID: call.tenantID), buyer: false))
        }
        r.put("/admin/api/users/:id") { call in
            var user = try await call.requireUser(try call.id("id"), accountID: call.tenantID)
            if user.id != call.principal.user?.id { try requireAdmin(call) }
            try await update(&user, call: call, params: try call.unwrapped("user"))
            return .json(call.representer.user(user, buyer: false))
        }
        r.delete("/admin/api/users/:id") { call in
            try requireAdmin(call)
            let user = try await call.requireUser(try call.id("id"), accountID: call.tenantID)
            if user.id == call.principal.user?.id {
                throw AdminError(.refusedDeletion([("base", ["you cannot delete yourself"])]))
            }
            let admins = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(call.tenantID)).filter { $0.role == .admin }
            if user.role == .admin, admins.count <= 1 {
                throw AdminError(.refusedDeletion([("base", ["the last admin of an account cannot be deleted"])]))
            }
            try await call.transaction { tx in
                for token in try await tx.store.list(AccessToken.self, tenantID: tx.tenantID, scope: RecordScope.user(user.id)) {
                    try await tx.store.delete(AccessToken.self, tenantID: tx.tenantID, id: token.id)
                }
                try await tx.store.delete(User.self, tenantID: tx.tenantID, id: user.id)
            }
            return .deleted
        }
        for event in events {
            r.put("/admin/api/users/:id/\(event)") { call in
                try requireAdmin(call)
                var user = try await call.requireUser(try call.id("id"), accountID: call.tenantID)
                try await apply(event: event, to: &user, call: call)
                return .json(call.representer.user(user, buyer: false))
            }
        }
        r.get("/admin/api/users/:id/permissions") { call in
            .json(call.representer.permissions(try await call.requireUser(try call.id("id"), accountID: call.tenantID)))
        }
        r.put("/admin/api/users/:id/permissions") { call in
            try requireAdmin(call)
            var user = try await call.requireUser(try call.id("id"), accountID: call.tenantID)
            let params = try call.unwrapped("permissions")
            if params.has("allowed_sections") {
                // Non-section entries (e.g. the literal "[]" clients send for an empty list) are dropped.
                user.allowedSections = (params.stringArray("allowed_sections") ?? []).filter { User.sections.contains($0) }
            }
            if params.has("allowed_service_ids") {
                let products = Set(try await call.store.list(Product.self, tenantID: call.tenantID).map(\.id))
                user.allowedServiceIDs = (params.stringArray("allowed_service_ids") ?? []).compactMap { Int64($0) }.filter { products.contains($0) }
            }
            user.updatedAt = call.now
            try await call.store.update(user)
            return .json(call.representer.permissions(user))
        }
        r.post("/admin/api/users/:id/access_tokens") { call in
            try requireAdmin(call)
            let user = try await call.requireUser(try call.id("id"), accountID: call.tenantID)
            let (token, value) = try await AccessTokenRoutes.create(call, user: user, params: try call.unwrapped("token"))
            return .created(call.representer.accessToken(token, value: value))
        }
    }

    /// Managing users needs an admin (or the provider key).
    static func requireAdmin(_ call: AdminCall) throws {
        if let user = call.principal.user, user.role != .admin { throw AdminError(.insufficientPermissions) }
    }

    static func isEmail(_ s: String) -> Bool {
        let parts = s.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && !s.contains(" ")
    }

    static func create(_ call: AdminCall, accountID: Int64, params: Parameters, requirePassword: Bool) async throws -> User {
        var errors = ValidationErrors()
        let username = params.nonEmpty("username")
        let email = params.nonEmpty("email")
        if username == nil { errors.add("username", "can't be blank") }
        if let email {
            if !isEmail(email) { errors.add("email", "should look like an email address") }
        } else {
            errors.add("email", "can't be blank")
        }
        let password = params.nonEmpty("password")
        if requirePassword, password == nil { errors.add("password", "can't be blank") }
        let existing = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(accountID))
        if let username, existing.contains(where: { $0.username == username }) { errors.add("username", "has already been taken") }
        if let email, existing.contains(where: { $0.email == email }) { errors.add("email", "has already been taken") }
        try errors.throwIfAny()
        var user = User(tenantID: call.tenantID, accountID: accountID, username: username ?? "", email: email ?? "", role: .member,
                        state: .pending, now: call.now)
        if let password { user.passwordDigest = try PasswordHasher.hash(password) }
        let fields = try await AccountRoutes.definedFields(call)
        user.extraFields = AccountRoutes.extraFields(params, names: fields["User"] ?? [], excluding: ["username", "email", "password"])
        if accountID == call.tenantID {
            user.allowedSections = []
        }
        return try await call.store.insert(user)
    }

    static func update(_ user: inout User, call: AdminCall, params: Parameters) async throws {
        var errors = ValidationErrors()
        let siblings = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(user.accountID))
        if params.has("username") {
            if let name = params.nonEmpty("username") {
                if siblings.contains(where: { $0.username == name && $0.id != user.id }) { errors.add("username", "has already been taken") } else { user.username = name }
            } else {
                errors.add("username", "can't be blank")
            }
        }
        if params.has("email") {
            if let email = params.nonEmpty("email"), isEmail(email) {
                if siblings.contains(where: { $0.email == email && $0.id != user.id }) { errors.add("email", "has already been taken") } else { user.email = email }
            } else {
                errors.add("email", "should look like an email address")
            }
        }
        if let password = params.nonEmpty("password") { user.passwordDigest = try PasswordHasher.hash(password) }
        let fields = try await AccountRoutes.definedFields(call)
        for (k, v) in AccountRoutes.extraFields(params, names: fields["User"] ?? [], excluding: ["username", "email", "password"]) { user.extraFields[k] = v }
        try errors.throwIfAny()
        user.updatedAt = call.now
        try await call.store.update(user)
    }

    static func apply(event: String, to user: inout User, call: AdminCall) async throws {
        switch event {
        case "activate":
            guard user.state == .pending else { throw transition(user, event) }
            user.state = .active
        case "suspend":
            guard user.state == .active else { throw transition(user, event) }
            if user.id == call.principal.user?.id { throw AdminError(.unprocessable("you cannot suspend yourself")) }
            user.state = .suspended
        case "unsuspend":
            guard user.state == .suspended else { throw transition(user, event) }
            user.state = .active
        case "admin":
            user.role = .admin
        default:
            if user.role == .admin {
                let admins = try await call.store.list(User.self, tenantID: call.tenantID, scope: RecordScope.account(user.accountID)).filter { $0.role == .admin }
                if admins.count <= 1 { throw AdminError(.unprocessable("the last admin of an account cannot become a member")) }
            }
            user.role = .member
        }
        user.updatedAt = call.now
        try await call.store.update(user)
    }

    static func transition(_ user: User, _ event: String) -> AdminError {
        AdminError(.invalidTransition(from: user.state.rawValue, event: event, message: "cannot \(event) a user that is \(user.state.rawValue)"))
    }
}
