import Hummingbird
import NIOCore
import PorticoCore

/// Serves `AdminAPI` over Hummingbird. Paths are routed raw so percent-encoded key values stay intact.
public struct AdminHTTPResponder: HTTPResponder {
    public typealias Context = BasicRequestContext
    let api: AdminAPI

    public init(api: AdminAPI) { self.api = api }

    public func respond(to request: Request, context: Context) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: api.environment.settings.maximumBodyBytes)
        } catch {
            return Response(status: .contentTooLarge, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"request body too large"}"#)))
        }
        let reply = await api.handle(AdminAPI.Request(
            method: request.method.rawValue,
            rawPath: request.head.path ?? "/",
            host: request.head.authority,
            authorization: request.headers[.authorization],
            contentType: request.headers[.contentType],
            body: Array(buffer: body)))
        var headers = HTTPFields()
        if let type = reply.contentType { headers[.contentType] = type }
        return Response(status: .init(code: reply.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: reply.body)))
    }
}
