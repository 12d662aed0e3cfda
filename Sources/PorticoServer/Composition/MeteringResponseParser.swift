import NIOCore
import PorticoGateway

/// Reads the responses of a Service Management API endpoint off one connection, pipelined, in order (RFC 9112):
/// each response's status, whether the connection stays open, and its `3scale-*` headers, which are all an
/// authrep's answer carries for a gateway (APIcast asks for no body). Bodies are framed and dropped without being
/// copied (`HTTP1ResponseReader`, which the gateway's upstream connections use too).
///
/// It replaces NIO's response decoder and request encoder on the metering client's connections: those built a
/// header dictionary and three pipeline writes per authrep, a large part of a cached gateway request's cost.
/// Anything that is not HTTP/1.x is an error: the connection is then dropped, never guessed at.
struct MeteringResponseParser {
    struct Response: Equatable {
        var status: Int
        /// The connection carries another response after this one.
        var keepAlive: Bool
        /// The `3scale-*` header fields, names as sent.
        var headers: [(name: String, value: String)]

        static func == (a: Response, b: Response) -> Bool {
            a.status == b.status && a.keepAlive == b.keepAlive && a.headers.elementsEqual(b.headers) { $0 == $1 }
        }

        /// The first field named `name` (ASCII case-insensitive).
        func header(_ name: String) -> String? {
            headers.first { HTTP1Syntax.sameFieldName($0.name, name) }?.value
        }
    }

    typealias Malformed = HTTP1ResponseReader.Malformed

    static let headLimit = HTTP1ResponseReader.headLimit

    private var reader = HTTP1ResponseReader(keeping: .prefixed("3scale-"), deliversBody: false)
    /// The head of the response whose body is being skipped.
    private var current: Response?

    /// Takes bytes read from the connection.
    mutating func feed(_ bytes: inout ByteBuffer) {
        reader.feed(&bytes)
    }

    /// The next complete response, or nil until more bytes arrive. A response whose body runs to the end of the
    /// connection is returned once its head is read (with `keepAlive` false): its body is of no use here.
    mutating func next() throws(Malformed) -> Response? {
        while let event = try reader.next() {
            switch event {
            case .head(let head):
                let response = Response(status: head.status, keepAlive: head.keepAlive, headers: head.fields)
                if reader.bodyRunsToClose { return response }
                current = response
            case .body:
                continue
            case .end:
                defer { current = nil }
                if let current { return current }
            }
        }
        return nil
    }
}
