import PorticoCore
import PorticoGateway
import Hummingbird
import Logging
import NIOCore
import Prometheus

/// The management port: Portico's liveness, readiness and Prometheus metrics, and APIcast's management API
/// (reference/gateway.md §5.4) in the mode `APICAST_MANAGEMENT_API` selects.
struct ManagementResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let readiness: ReadinessState
    let registry: PrometheusCollectorRegistry
    let mode: GatewayRoleSettings.ManagementAPI
    let gateway: GatewayManagement
    let logger: Logger

    /// Largest configuration document `PUT /config` reads.
    static let configurationLimit = 64 << 20

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        let method = request.method
        let reads = method == .get || method == .head
        // Portico's own probes and metrics answer in every mode (they are also the admin and metering roles'
        // probes); APIcast's routes follow the mode.
        switch (path, reads) {
        case ("/status/live", true):
            return json(.ok, #"{"status":"live","success":true}"#)
        case ("/status/ready", true):
            return ready()
        case ("/metrics", true):
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        default:
            break
        }
        let debug = mode == .debug
        switch path {
        case "/" where mode == .disabled && reads:
            return Response(status: .forbidden)
        case "/status/info" where reads && (mode == .status || debug):
            return json(.ok, gateway.info.serializedString)
        case let listing where (listing == "/policies/" || listing == "/policies") && reads && mode != .disabled:
            // The manifests of the policies this gateway implements, as APIcast's management API lists them for porta.
            return json(.ok, BuiltinPolicyManifests.document.serializedString)
        case "/config" where debug && reads:
            return json(.ok, currentConfiguration())
        case "/config" where debug && (method == .put || method == .post):
            return try await replaceConfiguration(try await request.body.collect(upTo: Self.configurationLimit))
        case "/config" where debug && method == .delete:
            return resetConfiguration()
        case "/boot" where debug && method == .post:
            return await boot()
        default:
            return json(.notFound, #"{"status":"Not found"}"#)
        }
    }

    private func ready() -> Response {
        // APIcast's answers while the gateway has no configuration, or none with services.
        switch readiness.gatewayState {
        case .notConfigured:
            return json(.init(code: 412), #"{"status":"error","error":"not configured","success":false}"#)
        case .noServices where readiness.isReady:
            return json(.ok, #"{"status":"warning","warning":"no services","success":true}"#)
        default:
            break
        }
        let roles = readiness.summary.map { "\"\($0.0)\":\($0.1 ? "true" : "false")" }.joined(separator: ",")
        return json(readiness.isReady ? .ok : .serviceUnavailable,
                    #"{"status":"\#(readiness.isReady ? "ready" : "starting")","success":\#(readiness.isReady),"roles":{\#(roles)}}"#)
    }

    // MARK: debug mode

    /// `{"services": [...]}` as the gateway serves them, or `null` before a configuration was loaded.
    private func currentConfiguration() -> String {
        guard let store = gateway.current?.store, store.isLoaded else { return "null" }
        return store.configuration.document.serializedString
    }

    private func replaceConfiguration(_ body: ByteBuffer) async throws -> Response {
        guard let target = gateway.current else {
            return json(.serviceUnavailable, #"{"status":"error","error":"no gateway runs in this process"}"#)
        }
        guard let prepare = target.prepare else { return fedByAdmin() }
        let sent: JSONValue
        do {
            sent = try JSONParser.parse(Array(body.readableBytesView))
        } catch {
            return json(.badRequest, JSONValue.object(["status": "error", "config": .null, "error": .string(error.description)]).serializedString)
        }
        let prepared: GatewayConfiguration
        do {
            prepared = await prepare(try GatewayConfiguration.parse(sent))
        } catch {
            return json(.init(code: 406), JSONValue.object(["status": "not_configured", "config": sent, "services": .int(0),
                                                            "error": .string(error.description)]).serializedString)
        }
        for problem in prepared.rejected { logger.error("gateway.product_rejected", metadata: ["problem": .string(problem)]) }
        guard !prepared.products.isEmpty else {
            // Refused, as APIcast refuses it; the configuration in use stays.
            return json(.init(code: 406), JSONValue.object(["status": "not_configured", "config": sent, "services": .int(0)]).serializedString)
        }
        target.store.replace(prepared)
        logger.notice("gateway.configuration_replaced", metadata: ["by": "management API", "products": .stringConvertible(prepared.products.count)])
        return json(.ok, JSONValue.object(["status": "ok", "config": sent, "services": .int(Int64(prepared.products.count))]).serializedString)
    }

    private func resetConfiguration() -> Response {
        guard let target = gateway.current else { return json(.ok, #"{"status":"ok","config":null}"#) }
        guard target.prepare != nil else { return fedByAdmin() }
        target.store.reset()
        logger.notice("gateway.configuration_reset", metadata: ["by": "management API"])
        return json(.ok, #"{"status":"ok","config":null}"#)
    }

    private func boot() async -> Response {
        guard let target = gateway.current else {
            return json(.serviceUnavailable, #"{"status":"error","error":"no gateway runs in this process"}"#)
        }
        guard let boot = target.boot else { return fedByAdmin() }
        do {
            let loaded = try await boot()
            target.store.replace(loaded)
            return json(.ok, JSONValue.object(["status": "ok", "config": loaded.document]).serializedString)
        } catch {
            return json(.internalServerError, JSONValue.object(["status": "error", "error": .string("\(error)")]).serializedString)
        }
    }

    private func fedByAdmin() -> Response {
        json(.conflict, #"{"status":"error","error":"this gateway's configuration comes from the admin role of the same process; change it through the admin API (proxy configs) instead"}"#)
    }

    private func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
