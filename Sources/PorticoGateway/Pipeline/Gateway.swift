import Logging
import Metrics
import PorticoCore

/// The gateway's request pipeline (reference/gateway.md §2): product selection, the policy chain's rewrite
/// and access phases with the `apicast` policy's credentials, mapping rules and authorization, and the
/// upstream to proxy to. It decides; `GatewayResponder` does the HTTP work.
public final class Gateway: Sendable {
    public let store: GatewayConfigurationStore
    public let settings: GatewaySettings
    let metering: any MeteringClient
    public let cache: AuthorizationCache
    public let batcher: ReportBatcher
    public let deferred: DeferredReporter
    let limiter = EdgeLimiter()
    /// `rate_limit` with `redis_url`.
    public let sharedLimiter: SharedEdgeLimiter
    let clock: @Sendable () -> Int64
    let logger: Logger
    let lazy: LazyConfiguration?
    /// For `token_introspection`; nil makes that policy deny (there is no way to ask the identity provider).
    let introspector: (any TokenIntrospector)?

    public init(store: GatewayConfigurationStore, settings: GatewaySettings, metering: any MeteringClient, lazy: LazyConfiguration? = nil,
                introspector: (any TokenIntrospector)? = nil, clockMilliseconds: @escaping @Sendable () -> Int64, logger: Logger) {
        self.lazy = lazy
        self.introspector = introspector
        self.sharedLimiter = SharedEdgeLimiter(logger: logger)
        self.store = store
        self.settings = settings
        self.metering = metering
        self.cache = AuthorizationCache()
        self.batcher = ReportBatcher(metering: metering, clockMilliseconds: clockMilliseconds, logger: logger)
        self.deferred = DeferredReporter(metering: metering, cache: cache, clockMilliseconds: clockMilliseconds, logger: logger)
        self.clock = clockMilliseconds
        self.logger = logger
    }

    /// Picks the product for the request's host (and path, with path routing).
    func selectProduct(_ request: GatewayRequest, in configuration: GatewayConfiguration) -> GatewayProduct? {
        // Indices, not products: only the chosen one is copied out.
        let candidates = configuration.candidateIndices(host: request.host)
        guard let first = candidates.first else { return nil }
        guard settings.pathRouting || settings.pathRoutingOnly else { return configuration.products[first] }
        let subject = RequestPath.subject(request.path) ?? request.path
        if let routed = candidates.first(where: {
            !RuleMatch.evaluate(configuration.products[$0].rules, method: request.method, path: subject, arguments: request.arguments).isEmpty
        }) {
            return configuration.products[routed]
        }
        return settings.pathRoutingOnly ? nil : configuration.products[first]
    }

    /// Decides, waiting for whatever the pipeline needs on the way (metering, an identity provider, Redis).
    public func decide(_ request: inout GatewayRequest) async -> GatewayDecision {
        var memo = DecisionMemo()
        return await decide(&request, memo: &memo)
    }

    /// Runs the pipeline until it decides; each time it stops for something to wait for, that is awaited and
    /// recorded in `memo`, and the pipeline goes on (see `decideNow`). `request` is the request as it came.
    public func decide(_ request: inout GatewayRequest, memo: inout DecisionMemo) async -> GatewayDecision {
        let original = request
        while true {
            request = original
            switch decideNow(&request, memo: &memo) {
            case .decided(let decision): return decision
            case .asks(let call): memo.answered(await send(call))
            case .waits(let wait): await wait(&memo)
            }
        }
    }

    /// The pipeline without waiting: the decision, or what it must wait for first. Most requests (an authorization
    /// from the cache, a local reply) need nothing, and are decided on the connection's event loop with no task.
    /// A wait in the access phase keeps where the pipeline was in `memo` (`DecisionMemo.Resume`), and the next run
    /// goes on from that policy; a wait before it (the configuration, an access token) runs the pipeline again from
    /// the start. Either way what a step did before a wait (a limiter's count, an authorization) is kept in `memo`
    /// and reused, never done twice.
    public func decideNow(_ request: inout GatewayRequest, memo: inout DecisionMemo) -> DecisionStep {
        var actions = ResponseActions()
        var defaultCredentials: Credentials?
        var credentials: Credentials?
        var match = RuleMatch()
        var route: DecisionMemo.Route?
        var cacheTTL: Int64?
        var claims: JSONValue?
        let product: GatewayProduct
        let policies: [Policy]
        var resumeAt: Int?
        if let resume = memo.resume {
            request = resume.request
            product = resume.product
            policies = resume.policies
            actions = resume.actions
            credentials = resume.credentials
            match = resume.match
            route = resume.route
            cacheTTL = resume.cacheTTL
            claims = resume.claims
            resumeAt = resume.index
        } else {
            actions.accessLog = settings.accessLog
            if let lazy, !memo.configurationRefreshed {
                let host = request.host, store = self.store, now = clock(), logger = self.logger
                return .waits { memo in
                    await lazy.refresh(host: host, store: store, nowMilliseconds: now, logger: logger)
                    memo.configurationRefreshed = true
                }
            }
            guard let selected = selectProduct(request, in: store.configuration) else {
                return .decided(GatewayDecision(action: .reply(.notFound), response: actions, product: nil))
            }
            product = selected
            let initial = request
            policies = product.chain.effective { initial.liquidValue($0, service: selected) }
        }
        func reply(_ r: LocalReply) -> DecisionStep { .decided(GatewayDecision(action: .reply(r), response: actions, product: product)) }
        /// Where to go on from after `step`: this policy of the access phase, with what the pipeline knows now.
        func suspend(at index: Int, _ step: DecisionStep) -> DecisionStep {
            memo.resume = DecisionMemo.Resume(request: request, product: product, policies: policies, actions: actions, credentials: credentials,
                                              match: match, route: route, cacheTTL: cacheTTL, claims: claims, index: index)
            return step
        }
        if resumeAt == nil, !product.chain.loadFailures.isEmpty {
            // Reported once when the configuration was loaded (GatewayConfiguration.rejected); here only answered.
            return reply(LocalReply(status: product.chain.failureStatus, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                    body: "Service Unavailable", reason: "policy_failed"))
        }
        let sources = { (r: GatewayRequest) in CredentialSources(query: r.arguments, form: r.form, header: { r.header($0) }) }

        // rewrite
        for policy in policies where resumeAt == nil {
            switch policy {
            case .cors(let cors):
                let headers = cors.headers(header: { request.header($0) })
                if CORSPolicy.isPreflight(method: request.method, header: { request.header($0) }) {
                    return reply(LocalReply(status: 204, headers: headers, reason: "cors_preflight"))
                }
                actions.corsHeaders = headers
            case .maintenance(let e, let condition):
                let snapshot = request
                if condition.holds({ snapshot.liquidValue($0, service: product) }) { return reply(.error(e, reason: "maintenance")) }
            case .nginxFilters(let dropped):
                request.headers.removeAll { dropped.contains($0.0.lowercased()) }
                request.hiddenHeaders += dropped.map(CredentialExtractor.headerName)
            case .payloadLimits(let requestLimit, let responseLimit):
                if requestLimit > 0, let length = request.header("content_length").flatMap({ Int64($0) }), length > requestLimit {
                    return reply(LocalReply(status: 413, headers: [("Content-Type", "text/plain; charset=utf-8")], body: "Payload Too Large",
                                            reason: "payload_limits"))
                }
                if responseLimit > 0 { actions.responseBodyLimit = responseLimit }
            case .echo(let status, _):
                let line = "\(request.method) \(request.path)\(request.forwardedQuery.map { "?" + $0 } ?? "") HTTP/1.1\n"
                return reply(LocalReply(status: status, headers: [("Content-Type", "text/plain")], body: line, reason: "echo"))
            case .ipCheck(let check):
                if !check.allows(check.clientAddress(peer: request.remoteAddress, header: { request.header($0) })) {
                    return reply(LocalReply(status: 403, headers: [("Content-Type", "text/plain; charset=utf-8")], body: check.errorMessage, reason: "ip_check"))
                }
            case .headers(let h):
                let snapshot = request
                HeadersPolicy.apply(h.request, to: &request.headers, lookup: { snapshot.liquidValue($0, service: product) })
                actions.headerCommands += h.response
            case .urlRewriting(let rewriting):
                let before = request.arguments
                var path = request.path, arguments = before
                _ = rewriting.rewrite(path: &path, arguments: &arguments, method: request.method)
                if path != request.path { request.path = path }
                if arguments != before { request.arguments = arguments }
                if request.arguments != before { request.rawQuery = nil }
            case .rewriteURLCaptures(let captures):
                if let rewritten = captures.rewrite(path: request.path, method: request.method) {
                    request.path = rewritten.path
                    if !rewritten.arguments.isEmpty {
                        let names = Set(rewritten.arguments.map(\.0))
                        request.arguments = RequestArguments(pairs: request.arguments.pairs.filter { !names.contains($0.name) }.map { ($0.name, $0.value) }
                                                             + rewritten.arguments)
                        request.rawQuery = nil
                    }
                }
            case .upstream(let rules):
                if route == nil, let rule = rules.first(where: { $0.regex.matches(request.path) }) { route = (rule.url, nil, nil, nil) }
            case .defaultCredentials(let c):
                defaultCredentials = c
            case .apicast:
                credentials = product.credentials.extract(from: sources(request)) ?? defaultCredentials
                guard credentials != nil else { return reply(.error(product.authMissing, reason: "auth_missing")) }
                if case .accessToken(let token)? = credentials {
                    guard let verifier = product.oidc else { return reply(.error(product.authFailed, reason: "oidc_invalid")) }
                    guard let verification = memo.token else {
                        let claim = product.clientIDClaim, now = clock() / 1000
                        return .waits { memo in memo.token = .some(await verifier.verify(token, clientIDClaim: claim, nowSeconds: now)) }
                    }
                    guard let verified = verification else { return reply(.error(product.authFailed, reason: "oidc_invalid")) }
                    credentials = .clientID(verified.clientID)
                    claims = verified.claims
                    cacheTTL = max(1, verified.expiresAt * 1000 - clock())
                }
                let subject = RequestPath.subject(request.path) ?? request.path
                match = RuleMatch.evaluate(product.rules, method: request.method, path: subject, arguments: request.ruleArguments)
            case .statusCodeOverwrite(let map):
                actions.statusOverwrite = map
            case .logging(let logging):
                actions.accessLog = logging.accessLogs
                if logging.formats { actions.accessLogFormat = logging }
            default:
                break
            }
        }

        // access
        for index in (resumeAt ?? 0)..<policies.count {
            let policy = policies[index]
            switch policy {
            case .jwtClaimCheck(let check):
                let subject = RequestPath.subject(request.path) ?? request.path
                let snapshot = request
                if !check.allows(method: request.method, path: subject, claims: claims, request: { snapshot.liquidValue($0, service: product) }) {
                    return reply(LocalReply(status: 403, headers: [("Content-Type", "text/plain; charset=utf-8")], body: check.errorMessage, reason: "jwt_claim_check"))
                }
            case .tokenIntrospection(let policy):
                guard let token = Self.bearerToken(request.header("authorization")) else { return reply(.error(product.authMissing, reason: "auth_missing")) }
                if policy.maxCachedTokens > 0, policy.cache.isActive(token, nowMilliseconds: clock()) { continue }
                guard let active = memo.introspections[index] else {
                    return suspend(at: index, .waits { memo in memo.introspections[index] = await self.introspect(token, policy: policy, product: product) })
                }
                if !active { return reply(.error(product.authFailed, reason: "token_inactive")) }
            case .keycloakRoleCheck(let check):
                let subject = RequestPath.subject(request.path) ?? request.path
                let snapshot = request
                if !check.allows(method: request.method, path: subject, claims: claims, request: { snapshot.liquidValue($0, service: product) }) {
                    return reply(.error(product.authFailed, reason: "keycloak_role_check"))
                }
            case .rateLimit(let limits):
                let snapshot = request
                let lookup = { @Sendable (name: String) in snapshot.liquidValue(name, service: product) }
                let outcome: EdgeLimiter.Outcome
                if let url = limits.redisURL {
                    guard let answer = memo.sharedLimits[index] else {
                        let now = clock(), sharedLimiter = self.sharedLimiter, logger = self.logger
                        return suspend(at: index, .waits { memo in
                            do {
                                memo.sharedLimits[index] = .counted(try await sharedLimiter.check(limits, url: url, serviceID: product.id,
                                                                                                   nowMilliseconds: now, lookup: lookup))
                            } catch {
                                logger.error("gateway.rate_limit_store_failed", metadata: ["service.id": .string(product.id), "error": .string("\(error)")])
                                memo.sharedLimits[index] = .unavailable
                            }
                        })
                    }
                    guard case .counted(let counted) = answer else {
                        guard limits.failOnConfigurationError else { continue }
                        return reply(LocalReply(status: limits.configurationErrorStatus, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                                body: "Configuration error", reason: "edge_limit_unavailable"))
                    }
                    outcome = counted
                } else if let counted = memo.localLimits[index] {
                    outcome = counted
                } else {
                    outcome = limiter.check(limits, serviceID: product.id, nowMilliseconds: clock(), lookup: lookup)
                    memo.localLimits[index] = outcome
                }
                // A delay is waited out before this step adds anything, so the run that goes on from here adds it once.
                if case .delay(let ms) = outcome.verdict, !memo.delayed.contains(index) {
                    return suspend(at: index, .waits { memo in
                        try? await Task.sleep(for: .milliseconds(ms))
                        memo.delayed.insert(index)
                    })
                }
                if !outcome.held.isEmpty {
                    let held = outcome.held
                    if let url = limits.redisURL {
                        actions.connectionSlots.append(ConnectionSlots { [sharedLimiter] in sharedLimiter.leave(held, url: url) })
                    } else {
                        actions.connectionSlots.append(ConnectionSlots { [limiter] in limiter.leave(held) })
                    }
                }
                switch outcome.verdict {
                case .pass, .delay: break
                case .reject:
                    guard limits.enforce else {
                        if memo.noticed.insert(index).inserted {
                            logger.notice("gateway.edge_limit_exceeded", metadata: ["service.id": .string(product.id)])
                        }
                        break
                    }
                    return reply(LocalReply(status: limits.rejectStatus, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                            body: "Limits exceeded", reason: "edge_limit"))
                }
            case .routing(let rules):
                guard route == nil else { continue }
                let snapshot = request
                let lookup = { (name: String) in snapshot.liquidValue(name, service: product) }
                if let rule = rules.first(where: { $0.holds(path: snapshot.path, header: { snapshot.header($0) }, arguments: snapshot.ruleArguments, lookup: lookup) }) {
                    route = (rule.url, rule.hostHeader, rule.ownerID, rule.replacePath?.render(lookup))
                }
            case .apicast:
                guard let credentials else { continue }
                // `soap` adds the SOAP action's usage wherever it sits in the chain.
                for case .soap(let soap) in policies {
                    if let action = SOAPPolicy.action(soapAction: request.header("soapaction"), contentType: request.header("content_type")) {
                        soap.apply(action: action, to: &match)
                    }
                }
                if let owner = route?.ownerID { match = match.cleaned(forBackend: owner) }
                if isDebugRequest(request, product: product) { actions.extraHeaders += debugHeaders(product, credentials: credentials, match: match, request: request) }
                guard !match.isEmpty else { return reply(.error(product.noMatch, reason: "no_match")) }
                let authorization: AuthorizationOutcome
                if let known = memo.authorization {
                    authorization = known
                } else {
                    switch authorize(product, credentials: credentials, match: match, request: request, ttlMilliseconds: cacheTTL, memo: &memo) {
                    case .asks(let call): return suspend(at: index, .asks(call))
                    case .decided(let outcome): authorization = outcome
                    }
                    memo.authorization = authorization
                }
                switch authorization {
                case .denied(let denial): return reply(denial)
                case .allowed(let later, let limits):
                    actions.deferredAuthrep = later
                    if product.chain.addsRateLimitHeaders, let limits { actions.extraHeaders += Self.rateLimitHeaders(limits) }
                }
            default:
                break
            }
        }

        // content
        let upstream: UpstreamURL
        var hostHeader: String
        var path = request.path
        if let route {
            upstream = route.url
            hostHeader = route.hostHeader ?? upstream.hostHeader
            if let replaced = route.path { path = replaced.isEmpty ? "/" : replaced }
        } else if !product.chain.containsAPIcast {
            // Without the apicast policy nothing authorizes the request: only a routing or upstream policy's
            // explicit choice is proxied (as in APIcast, where apicast is what proxies to api_backend).
            return reply(LocalReply(status: 404, reason: "no_apicast_policy"))
        } else if let api = product.apiBackend {
            upstream = api
            hostHeader = product.hostnameRewrite ?? upstream.hostHeader
        } else {
            return reply(LocalReply(status: 404, reason: "no_upstream"))
        }
        if hostHeader.isEmpty { hostHeader = upstream.hostHeader }
        var added: [(String, String)] = []
        added.reserveCapacity(5)
        if let address = request.remoteAddress {
            added.append(("X-Real-IP", address))
            let forwarded = request.header("x_forwarded_for").map { "\($0), \(address)" } ?? address
            added.append(("X-Forwarded-For", forwarded))
        }
        added.append(("X-Forwarded-Proto", request.scheme))
        added.append(("X-Forwarded-Host", request.header("host") ?? request.host))
        if let secret = product.secretToken { added.append(("X-3scale-proxy-secret-token", secret)) }
        if let credentials {
            for case .customMetrics(let custom) in policies {
                actions.customMetrics = PendingCustomMetrics(policy: custom, request: request, product: product, credentials: credentials)
            }
        }
        let timeouts = product.chain.upstreamTimeouts
        let plan = ProxyPlan(upstream: upstream, path: upstream.joinedPath(path), query: upstream.query ?? request.forwardedQuery, hostHeader: hostHeader,
                             addedHeaders: added, connectTimeout: timeouts?.connect ?? settings.upstreamConnectTimeout,
                             readTimeout: timeouts?.read ?? settings.upstreamReadTimeout, retries: product.chain.retries,
                             mutualTLS: product.chain.upstreamMTLS, forwardProxy: product.chain.httpProxy?.proxy(for: upstream))
        return .decided(GatewayDecision(action: .proxy(plan), response: actions, product: product))
    }

    // MARK: after the response

    /// Once the client's status is known: connection-limiter slots are given back, and the deferred authrep (with
    /// `custom_metrics`' usage) goes out, or that usage alone is reported.
    public func responded(_ actions: ResponseActions, status: Int, executor: (any TaskExecutor)?) {
        for slots in actions.connectionSlots { slots.leave() }
        var extra: [(metric: String, delta: Int64)] = []
        if let custom = actions.customMetrics {
            let request = custom.request, product = custom.product
            extra = custom.policy.usage { name in name == "status" ? String(status) : request.liquidValue(name, service: product) }
        }
        if var deferred = actions.deferredAuthrep {
            deferred.addedUsage += extra
            self.deferred.enqueue(deferred, upstreamStatus: status, executor: executor)
        } else if !extra.isEmpty, let custom = actions.customMetrics {
            var match = RuleMatch()
            match.usage = extra
            let settings = custom.product.chain.batcher ?? BatcherSettings(authsTTLSeconds: 0, batchReportSeconds: CustomMetricsPolicy.reportDelaySeconds)
            let target = meteringCall(.report, product: custom.product, credentials: custom.credentials, match: RuleMatch(), request: custom.request)
            batcher.add(product: custom.product, target: target, credentials: custom.credentials, match: match, settings: settings, nowMilliseconds: clock())
        }
    }

    // MARK: token introspection

    static func bearerToken(_ authorization: String?) -> String? {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return nil }
        let token = authorization.dropFirst(7).trimmingSpaces
        return token.isEmpty ? nil : token
    }

    /// Whether the identity provider says the token is active (from the policy's cache when it may).
    func introspect(_ token: String, policy: TokenIntrospectionPolicy, product: GatewayProduct) async -> Bool {
        let now = clock()
        if policy.maxCachedTokens > 0, policy.cache.isActive(token, nowMilliseconds: now) { return true }
        let target: (url: String, client: IntrospectionClient)
        switch policy.endpoint(for: product) {
        case .success(let t): target = t
        case .failure(let problem):
            logger.error("gateway.token_introspection_unconfigured", metadata: ["service.id": .string(product.id), "problem": .string(problem.description)])
            return false
        }
        guard let introspector else { return false }
        do {
            let answer = try await introspector.introspect(token: token, url: target.url, client: target.client)
            guard answer["active"] == .bool(true) else { return false }
            if let ttl = policy.cacheMilliseconds(answer: answer, nowMilliseconds: now) {
                policy.cache.remember(token, untilMilliseconds: now + ttl, limit: policy.maxCachedTokens, nowMilliseconds: now)
            }
            return true
        } catch {
            logger.warning("gateway.token_introspection_failed", metadata: ["service.id": .string(product.id), "error": .string("\(error)")])
            return false
        }
    }

    // MARK: authorization

    /// `rate_limit_headers`: metering's `3scale-limit-*` answer as IETF RateLimit headers (from the cache when
    /// the request was authorized from it, so approximate there, as in APIcast).
    static func rateLimitHeaders(_ a: MeteringAnswer) -> [(String, String)] {
        var out: [(String, String)] = []
        if let v = a.limitMaxValue { out.append(("RateLimit-Limit", v)) }
        if let v = a.limitRemaining { out.append(("RateLimit-Remaining", v)) }
        if let v = a.limitReset { out.append(("RateLimit-Reset", v)) }
        return out
    }

    func isDebugRequest(_ request: GatewayRequest, product: GatewayProduct) -> Bool {
        guard let given = request.header("x_3scale_debug"), !product.backendAuthenticationValue.isEmpty else { return false }
        return constantTimeEquals(given, product.backendAuthenticationValue)
    }

    func debugHeaders(_ product: GatewayProduct, credentials: Credentials, match: RuleMatch, request: GatewayRequest) -> [(String, String)] {
        [
            ("X-3scale-matched-rules", match.matchedPatterns.joined(separator: ", ")),
            ("X-3scale-credentials", credentials.debugDescription),
            ("X-3scale-usage", match.encodedUsage),
            ("X-3scale-hostname", request.host),
            ("X-3scale-service-id", product.id),
            ("X-3scale-service-name", product.systemName ?? ""),
        ]
    }

    func meteringCall(_ endpoint: MeteringCall.Endpoint, product: GatewayProduct, credentials: Credentials, match: RuleMatch,
                      request: GatewayRequest) -> MeteringCall {
        // One array, sized once (made on every request with the cache off).
        var query: [(String, String)] = []
        query.reserveCapacity(5 + match.usage.count)
        query.append((product.backendAuthenticationType, product.backendAuthenticationValue))
        query.append(("service_id", product.id))
        credentials.appendMeteringParameters(to: &query)
        for u in match.usage { query.append(("usage[" + u.metric + "]", String(u.delta))) }
        if product.chain.sendsReferrer, let referrer = request.header("referer") { query.append(("referrer", referrer)) }
        return MeteringCall(endpoint: endpoint, baseURL: settings.backendEndpointOverride ?? product.backendEndpoint ?? "",
                            hostHeader: settings.backendEndpointOverride == nil ? product.backendHost : nil, query: query)
    }

    func cacheKey(_ product: GatewayProduct, _ credentials: Credentials, _ match: RuleMatch, _ request: GatewayRequest) -> String {
        var key = ""
        key.reserveCapacity(64)
        key += product.id
        key += ":"
        credentials.appendCacheKey(to: &key)
        key += ":"
        match.appendEncodedUsage(to: &key)
        if product.chain.sendsReferrer, let referrer = request.header("referer") { key += ":" + referrer }
        return key
    }

    /// The gateway's reply to a denial, from the answer's `3scale-*` headers.
    static func denial(_ answer: MeteringAnswer, product: GatewayProduct) -> LocalReply {
        if answer.rejectionReason == "limits_exceeded" {
            guard answer.limitMaxValue != "0" else { return .error(product.authFailed, reason: "disabled_metric") }
            let retry = answer.limitReset.map { [("Retry-After", $0)] } ?? []
            return .error(product.limitsExceeded, reason: "limits_exceeded", extraHeaders: retry)
        }
        return .error(product.authFailed, reason: answer.outcome == .unavailable ? "metering_unavailable" : "auth_failed")
    }

    func send(_ call: MeteringCall) async -> MeteringAnswer {
        let answer = await metering.send(call)
        count(answer, to: call.endpoint)
        return answer
    }

    /// `send` with the answer handed to `completion`: a client that answers on the calling event loop does so
    /// without a task (a gateway alone, with the cache off, asks metering on every request). `completion` counts the
    /// answer with `count(_:to:)` itself: one closure per call rather than a second one wrapping it to count.
    public func ask(_ call: MeteringCall, executor: (any TaskExecutor)?, completion: @escaping @Sendable (MeteringAnswer) -> Void) {
        metering.send(call, executor: executor, deferred: false, completion: completion)
    }

    /// Counts an answer to a call sent with `ask`; its completion calls this first.
    public func count(_ answer: MeteringAnswer, to endpoint: MeteringCall.Endpoint) {
        BackendCallCounters.shared.increment(endpoint: endpoint.metricLabel, status: answer.statusClass)
    }

    /// The `apicast` policy's authorization: from the cache, or once metering answered (`memo.meteringAnswer`).
    func authorize(_ product: GatewayProduct, credentials: Credentials, match: RuleMatch, request: GatewayRequest,
                   ttlMilliseconds: Int64?, memo: inout DecisionMemo) -> AuthorizationStep {
        func authrep() -> MeteringCall {
            meteringCall(product.isOIDC ? .oauthAuthrep : .authrep, product: product, credentials: credentials, match: match, request: request)
        }
        let mode = product.chain.cachingMode ?? settings.cacheMode
        if mode == .none, product.chain.batcher == nil {
            // No cache: it is neither read nor written, so the request needs no cache key.
            guard let answer = memo.meteringAnswer else { return .asks(authrep()) }
            if answer.outcome == .authorized { return .decided(.allowed(nil, limits: answer)) }
            return .decided(.denied(Self.denial(answer, product: product)))
        }
        let key = cacheKey(product, credentials, match, request)
        let now = clock()
        if let batch = product.chain.batcher {
            return authorizeBatched(product, batch: batch, key: key, credentials: credentials, match: match, request: request, now: now, memo: &memo)
        }
        if mode != .none, let entry = cache.lookup(key, nowMilliseconds: now), entry.status == 200 {
            let cached = MeteringAnswer(status: 200, limitReset: entry.limitReset, limitMaxValue: entry.limitMaxValue, limitRemaining: entry.limitRemaining)
            // The entry's authrep goes out again (made anew when the product changed since).
            let prepared = entry.authrep.flatMap { $0.isMade(for: product) ? $0 : nil } ?? PreparedAuthrep(product: product, call: authrep())
            return .decided(.allowed(DeferredAuthrep(prepared: prepared, cacheKey: key, mode: mode, ttlMilliseconds: ttlMilliseconds,
                                                     reportResponseCode: settings.reportResponseCodes), limits: cached))
        }
        guard let answer = memo.meteringAnswer else { return .asks(authrep()) }
        // Answered: the call is made again only for a cache entry to keep.
        if cache.handle(answer, key: key, mode: mode, ttlMilliseconds: ttlMilliseconds, nowMilliseconds: now,
                        authrep: PreparedAuthrep(product: product, call: authrep())) {
            return .decided(.allowed(nil, limits: answer))
        }
        var basis = answer
        if answer.outcome == .unavailable, let cached = cache.lookup(key, nowMilliseconds: now) {
            basis = MeteringAnswer(status: cached.status, rejectionReason: cached.rejectionReason, limitReset: cached.limitReset, limitMaxValue: cached.limitMaxValue)
        }
        return .decided(.denied(Self.denial(basis, product: product)))
    }

    func authorizeBatched(_ product: GatewayProduct, batch: BatcherSettings, key: String, credentials: Credentials, match: RuleMatch,
                          request: GatewayRequest, now: Int64, memo: inout DecisionMemo) -> AuthorizationStep {
        let reportTarget = meteringCall(.report, product: product, credentials: credentials, match: RuleMatch(), request: request)
        if memo.meteringAnswer == nil, let cached = batcher.cachedAuthorization(key, nowMilliseconds: now) {
            guard cached.status == 200 else { return .decided(.denied(Self.denial(cached, product: product))) }
            batcher.add(product: product, target: reportTarget, credentials: credentials, match: match, settings: batch, nowMilliseconds: now)
            return .decided(.allowed(nil, limits: nil))
        }
        guard let answer = memo.meteringAnswer else {
            return .asks(meteringCall(product.isOIDC ? .oauthAuthorize : .authorize, product: product, credentials: credentials, match: match, request: request))
        }
        return .decided(settleBatched(answer, product: product, batch: batch, key: key, reportTarget: reportTarget, credentials: credentials,
                                      match: match, now: now))
    }

    /// What metering's answer to a batched authorization means.
    private func settleBatched(_ answer: MeteringAnswer, product: GatewayProduct, batch: BatcherSettings, key: String, reportTarget: MeteringCall,
                               credentials: Credentials, match: RuleMatch, now: Int64) -> AuthorizationOutcome {
        switch answer.outcome {
        case .authorized:
            batcher.cacheAuthorization(key, answer, ttlMilliseconds: batch.authsTTLSeconds * 1000, nowMilliseconds: now)
            batcher.add(product: product, target: reportTarget, credentials: credentials, match: match, settings: batch, nowMilliseconds: now)
            return .allowed(nil, limits: nil)
        case .denied:
            batcher.cacheAuthorization(key, answer, ttlMilliseconds: batch.authsTTLSeconds * 1000, nowMilliseconds: now)
            return .denied(Self.denial(answer, product: product))
        case .unavailable:
            if product.chain.cachingMode != nil, cache.lookup(key, nowMilliseconds: now)?.status == 200 {
                batcher.add(product: product, target: reportTarget, credentials: credentials, match: match, settings: batch, nowMilliseconds: now)
                return .allowed(nil, limits: nil)
            }
            return .denied(Self.denial(answer, product: product))
        }
    }
}

/// The `apicast` policy's authorization verdict: allowed (maybe with an authrep to send after the response), or the reply to send.
enum AuthorizationOutcome: Sendable {
    case allowed(DeferredAuthrep?, limits: MeteringAnswer?)
    case denied(LocalReply)
}

/// An authorization, or the call metering must answer first.
enum AuthorizationStep {
    case decided(AuthorizationOutcome)
    case asks(MeteringCall)
}

/// Where `Gateway.decideNow` got to: a decision, or something to wait for before the pipeline goes on.
public enum DecisionStep: Sendable {
    case decided(GatewayDecision)
    /// Metering must answer this call first; its answer goes to `DecisionMemo.answered(_:)`.
    case asks(MeteringCall)
    /// Anything else to wait for (an identity provider, Redis, a delay, the configuration).
    case waits(@Sendable (inout DecisionMemo) async -> Void)
}

/// What the pipeline waited for, and what its steps did, for a request decided in more than one run: a run goes
/// on from where the last one waited (`resume`, in the access phase) or starts again from the request as it came,
/// and finds here what earlier runs learnt or did (keyed by the policy's place in the chain), so nothing is asked
/// or counted twice.
public struct DecisionMemo: Sendable {
    /// A shared (Redis) limiter's answer.
    enum SharedLimit: Sendable {
        case counted(EdgeLimiter.Outcome)
        case unavailable
    }

    /// Where the pipeline goes on after a wait in the access phase: the request and what the phases before knew.
    /// (A reference: the memo is passed around on every request, and most never need this.)
    final class Resume: Sendable {
        let request: GatewayRequest
        let product: GatewayProduct
        let policies: [Policy]
        let actions: ResponseActions
        let credentials: Credentials?
        let match: RuleMatch
        let route: Route?
        let cacheTTL: Int64?
        let claims: JSONValue?
        /// The access-phase policy that waited (it runs again, and finds its answer here).
        let index: Int

        init(request: GatewayRequest, product: GatewayProduct, policies: [Policy], actions: ResponseActions, credentials: Credentials?,
             match: RuleMatch, route: Route?, cacheTTL: Int64?, claims: JSONValue?, index: Int) {
            self.request = request
            self.product = product
            self.policies = policies
            self.actions = actions
            self.credentials = credentials
            self.match = match
            self.route = route
            self.cacheTTL = cacheTTL
            self.claims = claims
            self.index = index
        }
    }

    /// A `routing` or `upstream` policy's choice.
    typealias Route = (url: UpstreamURL, hostHeader: String?, ownerID: String?, path: String?)

    var resume: Resume?
    var configurationRefreshed = false
    /// The access token's verification (nil inside: not valid).
    var token: OIDCVerifier.Verified??
    var introspections: [Int: Bool] = [:]
    var sharedLimits: [Int: SharedLimit] = [:]
    var localLimits: [Int: EdgeLimiter.Outcome] = [:]
    var delayed: Set<Int> = []
    /// Limiters that logged their notice already.
    var noticed: Set<Int> = []
    var meteringAnswer: MeteringAnswer?
    var authorization: AuthorizationOutcome?

    public init() {}

    /// Metering's answer to the call of `DecisionStep.asks`.
    public mutating func answered(_ answer: MeteringAnswer) { meteringAnswer = answer }
}
