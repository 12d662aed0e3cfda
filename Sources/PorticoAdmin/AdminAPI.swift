import Logging
import Metrics
import PorticoCore
import PorticoStore

/// The Account Management, Master and gateway-configuration APIs, independent of the HTTP server.
public struct AdminAPI: Sendable {
    let environment: AdminEnvironment
    let router: AdminRouter
    let authenticator: Authenticator
    let logger: Logger

    public init(environment: AdminEnvironment, logger: Logger) {
        self.environment = environment
        self.logger = logger
        self.authenticator = Authenticator(environment: environment)
        var router = AdminRouter()
        AdminRoutes.register(into: &router)
        self.router = router
    }

    public struct Request: Sendable {
        public var method: String
        public var rawPath: String
        public var host: String?
        public var authorization: String?
        public var contentType: String?
        public var body: [UInt8]
        public init(method: String, rawPath: String, host: String?, authorization: String? = nil, contentType: String? = nil, body: [UInt8] = []) {
            self.method = method
            self.rawPath = rawPath
            self.host = host
            self.authorization = authorization
            self.contentType = contentType
            self.body = body
        }
    }

    public func handle(_ request: Request) async -> AdminResponse {
        let start = ContinuousClock.now
        var response = await respond(request)
        if request.method == "HEAD" { response.body = [] }
        let elapsed = ContinuousClock.now - start
        let statusClass = "\(response.status / 100)xx"
        Counter(label: "portico_admin_http_requests_total", dimensions: [("status", statusClass)]).increment()
        Timer(label: "portico_admin_http_request_duration_seconds", dimensions: [("status", statusClass)]).recordNanoseconds(
            elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        return response
    }

    private func respond(_ request: Request) async -> AdminResponse {
        let target = RequestTarget(rawPath: request.rawPath)
        let route: AdminRoute
        let pathParameters: [String: String]
        switch router.match(method: request.method, segments: target.segments) {
        case .found(let r, let p):
            route = r
            pathParameters = p
        case .methodNotAllowed, .notFound:
            return AdminErrorRenderer.render(.notFound)
        }
        if target.format == "xml" {
            return .json(["error": "XML is not supported by Portico yet; request the .json representation"], status: 406)
        }
        do {
            let params = try Parameters.parse(query: target.query, body: request.body, contentType: request.contentType)
            let credentials = Authenticator.credentials(params: params, authorization: request.authorization, area: route.area)
            let principal = try await authenticator.authenticate(host: request.host, credentials: credentials, area: route.area,
                                                                 method: request.method)
            let representer = Representer(baseURL: "http://" + (request.host ?? "localhost:\(environment.settings.adminPort)"),
                                          settings: environment.settings)
            let call = AdminCall(method: request.method, pathParameters: pathParameters, params: params, principal: principal,
                                 store: environment.store, environment: environment, representer: representer, now: environment.clock())
            return try await route.handler(call)
        } catch let error as AdminError {
            return AdminErrorRenderer.render(error)
        } catch let error as StorageError {
            let requestID = Secrets.randomHex(byteCount: 8)
            logger.error("admin.storage_failure", metadata: [
                "request.id": .string(requestID), "error.code": .string(error.code.description), "error.message": .string(error.message),
                "error.cause": .string(error.underlying.map { String(describing: $0) } ?? "-"),
            ])
            if error.code == .notFound { return AdminErrorRenderer.render(.notFound) }
            if error.code == .unavailable {
                return AdminErrorRenderer.render(AdminError(.unavailable("the admin database is unavailable; retry shortly (request \(requestID))")))
            }
            return AdminErrorRenderer.internalError(requestID: requestID)
        } catch {
            let requestID = Secrets.randomHex(byteCount: 8)
            logger.error("admin.unexpected_failure", metadata: ["request.id": .string(requestID), "error": .string(String(describing: error))])
            return AdminErrorRenderer.internalError(requestID: requestID)
        }
    }
}
