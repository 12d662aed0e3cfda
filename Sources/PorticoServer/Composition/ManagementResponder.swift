import PorticoCore
import Hummingbird
import NIOCore
import Prometheus

/// The management port: liveness, readiness and Prometheus metrics.
struct ManagementResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let readiness: ReadinessState
    let registry: PrometheusCollectorRegistry

    func respond(to request: Request, context: Context) async throws -> Response {
        let path = request.uri.path
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed)
        }
        switch path {
        case "/status/live":
            return json(.ok, #"{"status":"live","success":true}"#)
        case "/status/ready":
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
            return json(readiness.isReady ? .ok : .serviceUnavailable, #"{"status":"\#(readiness.isReady ? "ready" : "starting")","success":\#(readiness.isReady),"roles":{\#(roles)}}"#)
        case "/policies", "/policies/":
            // The manifests of the policies this gateway implements, as APIcast's management API lists them for porta.
            return json(.ok, BuiltinPolicyManifests.document.serializedString)
        case "/metrics":
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        default:
            return json(.notFound, #"{"status":"Not found"}"#)
        }
    }

    private func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
