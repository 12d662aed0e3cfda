import NIOCore
import Synchronization

/// How the gateway asks metering (the Service Management API) for a decision. The gateway owns this
/// protocol; `PorticoServer` supplies an in-process implementation for `serve` and an HTTP one (pooled
/// keep-alive connections) for a gateway running alone or against 3scale's backend.
public protocol MeteringClient: Sendable {
    func send(_ call: MeteringCall) async -> MeteringAnswer
    /// The same call with its answer handed to `completion`, never before this returns: how deferred authreps
    /// (`deferred`: nobody waits for the answer, so it may wait to be sent with others) and the pipeline's calls
    /// go out. A client that can answer on the calling event loop without a task does; by default `send` runs in
    /// a task that prefers `executor`.
    func send(_ call: MeteringCall, executor: (any TaskExecutor)?, deferred: Bool, completion: @escaping @Sendable (MeteringAnswer) -> Void)
}

extension MeteringClient {
    public func send(_ call: MeteringCall, executor: (any TaskExecutor)?, deferred: Bool, completion: @escaping @Sendable (MeteringAnswer) -> Void) {
        sendInTask(call, executor: executor, completion: completion)
    }

    /// `send` in a task that prefers `executor`, its answer handed to `completion`.
    public func sendInTask(_ call: MeteringCall, executor: (any TaskExecutor)?, completion: @escaping @Sendable (MeteringAnswer) -> Void) {
        Task(executorPreference: executor) { completion(await self.send(call)) }
    }
}

/// One Service Management API call as APIcast makes it (reference/gateway.md §4.1).
public struct MeteringCall: Sendable {
    public enum Endpoint: String, Sendable {
        case authrep = "/transactions/authrep.xml"
        case oauthAuthrep = "/transactions/oauth_authrep.xml"
        case authorize = "/transactions/authorize.xml"
        case oauthAuthorize = "/transactions/oauth_authorize.xml"
        case report = "/transactions.xml"

        /// The label of `threescale_backend_calls`.
        public var metricLabel: String {
            switch self {
            case .authrep, .oauthAuthrep: return "authrep"
            case .authorize, .oauthAuthorize: return "auth"
            case .report: return "report"
            }
        }
    }

    // A change to what the request is made of drops what was made of it once (`prepared()`).
    public var endpoint: Endpoint { didSet { madeOnce = nil } }
    /// The product's backend (`proxy.backend.endpoint`), e.g. `http://127.0.0.1:3001`.
    public var baseURL: String { didSet { madeOnce = nil } }
    /// `proxy.backend.host`: the Host header to send, when set.
    public var hostHeader: String? { didSet { madeOnce = nil } }
    /// Query parameters, in order (already decoded; the client encodes them).
    public var query: [(String, String)] { didSet { madeOnce = nil } }
    /// What was made once of this call for the many times it is sent (`prepared()`); nil once the call changes.
    public private(set) var madeOnce: PreparedMeteringCall?
    /// `query` encoded, when made once for many calls (`prepared()`); nil once the call changes.
    public var preparedQuery: String? { madeOnce?.encodedQuery }
    /// Form body of a report.
    public var form: [(String, String)] { didSet { madeOnce = nil } }

    /// `3scale-options`: rejection reason and limit headers, no body — what APIcast asks for.
    public static let options = "rejection_reason_header=1&limit_headers=1&no_body=1"

    public init(endpoint: Endpoint, baseURL: String, hostHeader: String? = nil, query: [(String, String)], form: [(String, String)] = []) {
        self.endpoint = endpoint
        self.baseURL = baseURL
        self.hostHeader = hostHeader
        self.query = query
        self.form = form
    }

    public var encodedQuery: String { preparedQuery ?? RequestArguments.encode(pairs: query) }

    /// The call with its query encoded once, for the client to write as it is (and to keep its request bytes in).
    public func prepared() -> MeteringCall {
        var call = self
        call.madeOnce = PreparedMeteringCall(encodedQuery: RequestArguments.encode(pairs: query))
        return call
    }

    public var encodedForm: String { RequestArguments.encode(pairs: form) }
}

/// What is made once of a call sent many times (the authrep of a cache entry, sent again for each request the entry
/// allows): its query encoded, and the request a client made of it, which that client sends again as it is.
public final class PreparedMeteringCall: Sendable {
    public let encodedQuery: String
    private let request = Mutex<(client: ObjectIdentifier, bytes: ByteBuffer)?>(nil)

    init(encodedQuery: String) {
        self.encodedQuery = encodedQuery
    }

    /// The request `client` makes of the call: made by `make` the first time, then the same bytes (a client that
    /// writes requests its own way, e.g. its User-Agent, never gets another client's).
    public func request(for client: AnyObject, make: () -> ByteBuffer) -> ByteBuffer {
        let id = ObjectIdentifier(client)
        return request.withLock { kept in
            if let kept, kept.client == id { return kept.bytes }
            let bytes = make()
            kept = (id, bytes)
            return bytes
        }
    }
}

/// What the gateway uses of a Service Management API reply: the status and the `3scale-*` headers.
public struct MeteringAnswer: Sendable, Equatable {
    /// 0 when metering could not be reached.
    public var status: Int
    public var rejectionReason: String?
    public var limitReset: String?
    public var limitMaxValue: String?
    public var limitRemaining: String?

    public init(status: Int, rejectionReason: String? = nil, limitReset: String? = nil, limitMaxValue: String? = nil, limitRemaining: String? = nil) {
        self.status = status
        self.rejectionReason = rejectionReason
        self.limitReset = limitReset
        self.limitMaxValue = limitMaxValue
        self.limitRemaining = limitRemaining
    }

    /// An answer from its status and a lookup of its response headers (the `3scale-*` ones APIcast's options ask for).
    public init(status: Int, header: (String) -> String?) {
        self.init(status: status, rejectionReason: header("3scale-rejection-reason"), limitReset: header("3scale-limit-reset"),
                  limitMaxValue: header("3scale-limit-max-value"), limitRemaining: header("3scale-limit-remaining"))
    }

    public static let unreachable = MeteringAnswer(status: 0)

    public enum Outcome: Sendable, Equatable {
        case authorized
        case denied
        /// No connection, or a status from 499 on: metering is not able to decide.
        case unavailable
    }

    public var outcome: Outcome {
        if status == 200 { return .authorized }
        if status == 0 || status >= 499 { return .unavailable }
        return .denied
    }

    /// `limits_exceeded` on a metric whose limit is 0 is a disabled metric: APIcast answers auth-failed.
    public var isLimitsExceeded: Bool { rejectionReason == "limits_exceeded" && limitMaxValue != "0" }

    /// The `threescale_backend_calls` status label.
    public var statusClass: String {
        switch status {
        case 200..<300: return "2xx"
        case 400..<500: return "4xx"
        case 500..<600: return "5xx"
        default: return "invalid_status"
        }
    }
}
