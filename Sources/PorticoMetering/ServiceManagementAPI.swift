import Logging
import PorticoCore
import PorticoMeteringStore

/// The Service Management API (reference/service-management-api.md): authorize, authrep, their OAuth
/// variants, report, and the probes, independent of the HTTP server.
public struct ServiceManagementAPI: Sendable {
    public static let backendVersion = "3.4.3"

    let configuration: MeteringConfiguration
    let counters: any MeteringStorage
    let reports: any ReportQueue
    let errors: IntegrationErrorLog
    let internalAPI: InternalAPI
    let clock: @Sendable () -> Timestamp
    let logger: Logger
    let traffic: TrafficEvents?
    let master: MasterUsage?
    let eventsHook: EventsHookPinger?

    /// `traffic` raises first_traffic events, `master` counts calls on the master service, `eventsHook` tells
    /// porta about alert and traffic events; each is optional.
    public init(configuration: MeteringConfiguration, reports: any ReportQueue, internalCredentials: InternalAPI.Credentials?,
                clock: @escaping @Sendable () -> Timestamp, logger: Logger, traffic: TrafficEvents? = nil, master: MasterUsage? = nil,
                eventsHook: EventsHookPinger? = nil) {
        self.traffic = traffic
        self.master = master
        self.eventsHook = eventsHook
        self.configuration = configuration
        self.counters = configuration.storage
        self.reports = reports
        self.errors = IntegrationErrorLog(storage: configuration.storage, clock: clock)
        self.internalAPI = InternalAPI(configuration: configuration, errors: errors, credentials: internalCredentials, clock: clock)
        self.clock = clock
        self.logger = logger
    }

    public func handle(_ request: MeteringRequest) async -> MeteringResponse {
        if request.path == "/internal" || request.path.hasPrefix("/internal/") {
            return await internalAPI.handle(request)
        }
        // HEAD is answered by the GET route, as Sinatra (apisonator's framework) does; the server sends no body.
        switch (request.method == "HEAD" ? "GET" : request.method, request.path) {
        case ("OPTIONS", _):
            return MeteringResponse(status: 204, headers: MeteringResponse.corsHeaders + [
                ("Access-Control-Max-Age", "86400"),
                ("Access-Control-Allow-Methods", "GET, POST, PATCH, PUT, DELETE"),
                ("Access-Control-Allow-Headers", "Authorization, Accept-Encoding, Content-Type, Cache-Control, Accept, If-Match, If-Modified-Since, "
                    + "If-None-Match, If-Unmodified-Since, X-Requested-With, X-HTTP-Method-Override, 3scale-options"),
            ], body: [])
        case ("GET", "/status"):
            var r = MeteringResponse.json(200, ["status": "ok", "version": .object(["backend": .string(Self.backendVersion)])])
            r.headers += MeteringResponse.corsHeaders
            return r
        case ("GET", "/check.txt"):
            return MeteringResponse(status: 200, headers: [("Content-Type", "text/plain")] + MeteringResponse.corsHeaders, body: Array("ok".utf8))
        case ("GET", "/available"):
            return MeteringResponse(status: 200, headers: MeteringResponse.corsHeaders, body: [])
        case ("GET", "/transactions/authorize.xml"):
            return await authorization(request, .init(recording: false, oauth: false))
        case ("GET", "/transactions/authrep.xml"):
            return await authorization(request, .init(recording: true, oauth: false))
        case ("GET", "/transactions/oauth_authorize.xml"):
            return await authorization(request, .init(recording: false, oauth: true))
        case ("GET", "/transactions/oauth_authrep.xml"):
            return await authorization(request, .init(recording: true, oauth: true))
        case ("POST", "/transactions.xml"):
            return await report(request)
        default:
            return MeteringResponse.xml(404, "", noBody: true, securityPolicy: false)
        }
    }

    // MARK: authorize / authrep

    struct Endpoint: Sendable {
        var recording: Bool
        var oauth: Bool
    }

    private func authorization(_ request: MeteringRequest, _ endpoint: Endpoint) async -> MeteringResponse {
        var params = RackParameters()
        // The header alone decides no_body for requests whose parameters do not parse.
        var extensions = Extensions(header: request.options, parameters: params)
        do {
            do { try params.merge(request.query[...]) } catch { throw MeteringFailure.badRequest(error.message) }
            extensions = Extensions(header: request.options, parameters: params)
            let authorizer = Authorizer(configuration: configuration, counters: counters, now: clock(), traffic: traffic, master: master,
                                        alertsHook: eventsHook)
            return try await authorizer.run(params, endpoint: endpoint, extensions: extensions)
        } catch let failure as MeteringFailure {
            await recordIntegrationError(failure, params: params, request: request, extensions: extensions)
            return MeteringResponse.error(failure, noBody: extensions.noBody)
        } catch {
            logger.error("metering.storage_failure", metadata: ["error": .string("\(error)")])
            return MeteringResponse.error(.storageUnavailable, noBody: extensions.noBody)
        }
    }

    /// Exceptions (not 409 rejections) go to the service's integration-error log when the service is known.
    private func recordIntegrationError(_ failure: MeteringFailure, params: RackParameters, request: MeteringRequest, extensions: Extensions) async {
        guard let code = failure.code, failure.status < 500 else { return }
        do {
            var sid = Authorizer.normalized(params, "service_id")
            if sid == nil, let pk = Authorizer.normalized(params, "provider_key") { sid = try await configuration.defaultServiceID(providerKey: pk) }
            guard let sid, try await configuration.service(id: sid) != nil else { return }
            try await errors.record(serviceID: sid, code: code, message: failure.message, request: request, extensions: extensions.raw)
        } catch {
            logger.warning("metering.integration_error_not_recorded", metadata: ["error": .string("\(error)")])
        }
    }

    // MARK: report

    private func report(_ request: MeteringRequest) async -> MeteringResponse {
        var params = RackParameters()
        var extensions = Extensions(header: request.options, parameters: params)
        do {
            let type = (request.contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters() } ?? ""
            guard type.isEmpty || type == "application/x-www-form-urlencoded" || type == "multipart/form-data" else {
                throw MeteringFailure(400, "content_type_invalid", "invalid Content-Type: \(request.contentType ?? "")")
            }
            guard type != "multipart/form-data" else {
                throw MeteringFailure(400, "content_type_invalid", "invalid Content-Type: multipart/form-data is not supported by Portico; send the form url-encoded")
            }
            do {
                try params.merge(request.query[...])
                try params.merge(request.body[...])
            } catch { throw MeteringFailure.badRequest(error.message) }
            extensions = Extensions(header: request.options, parameters: params)
            let authorizer = Authorizer(configuration: configuration, counters: counters, now: clock())
            let providerKey = try await authorizer.resolveProviderKey(params)
            if params.containsInvalidUTF8 { throw MeteringFailure.notValidData }
            guard let transactionsValue = params["transactions"], transactionsValue != .string("") else {
                throw MeteringFailure(400, "transactions_is_blank", "transactions parameter is blank")
            }
            guard let entries = transactionsValue.entries else {
                throw MeteringFailure(400, "transactions_format_invalid", "transactions format is invalid")
            }
            for (_, transaction) in entries {
                guard transaction.isHash else { throw MeteringFailure(400, "transactions_has_nil_transaction", "transactions has a nil transaction") }
                if transaction["user_id"] != nil { throw MeteringFailure.endUsers }
            }
            let service = try await authorizer.loadService(params, providerKey: providerKey)
            let kept = entries.filter { _, transaction in
                guard let usage = transaction["usage"]?.entries, !usage.isEmpty else { return true }
                return !usage.allSatisfy { $0.1.string == "0" }
            }
            if !kept.isEmpty {
                let now = clock()
                try await reports.enqueue(ReportJob(serviceID: service.id, transactions: kept.map { $0.1 }, enqueuedAt: now,
                                                    flatUsage: extensions.flatUsage, extensions: extensions.raw))
                master?.note(providerKey: providerKey, authorizations: 0, transactions: Int64(kept.count), at: now)
            }
            return MeteringResponse.xml(202, "", noBody: true)
        } catch let failure as MeteringFailure {
            // Synchronous report errors are the caller's to see; only asynchronous ones go to the error log.
            return MeteringResponse.error(failure, noBody: extensions.noBody)
        } catch {
            logger.error("metering.storage_failure", metadata: ["error": .string("\(error)")])
            return MeteringResponse.error(.storageUnavailable, noBody: extensions.noBody)
        }
    }
}

extension Substring {
    func trimmingCharacters() -> String { String(self).trimmingWhitespace }
}
