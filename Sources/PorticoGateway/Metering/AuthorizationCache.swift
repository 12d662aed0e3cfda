import Synchronization

/// The gateway's authorization cache and its handlers (reference/gateway.md §4.2): what a backend answer
/// does to the cached entry, and what the gateway decides when metering is unavailable.
public final class AuthorizationCache: Sendable {
    public enum Mode: String, Sendable {
        /// Cache 200s only; any other answer, including an outage, removes the entry.
        case strict
        /// Cache every decision; an outage keeps the entry and allows only a cached 200.
        case resilient
        /// Like resilient, but an outage with nothing cached allows and caches 200.
        case allow
        /// No cache: every request asks metering synchronously.
        case none
    }

    public struct Entry: Sendable, Equatable {
        public var status: Int
        public var rejectionReason: String?
        public var limitReset: String?
        public var limitMaxValue: String?
        public var limitRemaining: String?
        /// Milliseconds since the epoch after which the entry is ignored; nil for no expiry.
        public var expiresAt: Int64?
        /// The authrep that went with the entry's credentials and usage, to send again for the requests it allows.
        var authrep: PreparedAuthrep?
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Bounds memory like APIcast's 30 MB shared dict: beyond this many keys the cache starts over.
    let capacity: Int

    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public func lookup(_ key: String, nowMilliseconds: Int64) -> Entry? {
        entries.withLock { dict in
            guard let entry = dict[key] else { return nil }
            if let expiry = entry.expiresAt, expiry <= nowMilliseconds {
                dict[key] = nil
                return nil
            }
            return entry
        }
    }

    public func remove(_ key: String) { entries.withLock { _ = $0.removeValue(forKey: key) } }

    public func store(_ key: String, _ entry: Entry) {
        entries.withLock { dict in
            if dict.count >= capacity, dict[key] == nil { dict.removeAll(keepingCapacity: true) }
            dict[key] = entry
        }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Applies a handler to a backend answer for `key`; returns whether the request is allowed.
    /// `authrep` is kept with an entry stored for the key.
    @discardableResult
    public func handle(_ answer: MeteringAnswer, key: String, mode: Mode, ttlMilliseconds: Int64?, nowMilliseconds: Int64) -> Bool {
        handle(answer, key: key, mode: mode, ttlMilliseconds: ttlMilliseconds, nowMilliseconds: nowMilliseconds, authrep: nil)
    }

    @discardableResult
    func handle(_ answer: MeteringAnswer, key: String, mode: Mode, ttlMilliseconds: Int64?, nowMilliseconds: Int64,
                authrep: @autoclosure () -> PreparedAuthrep?) -> Bool {
        let expiry = ttlMilliseconds.map { nowMilliseconds + $0 }
        var entry: Entry {
            Entry(status: answer.status, rejectionReason: answer.rejectionReason, limitReset: answer.limitReset,
                  limitMaxValue: answer.limitMaxValue, limitRemaining: answer.limitRemaining, expiresAt: expiry, authrep: authrep())
        }
        switch (mode, answer.outcome) {
        case (.none, _):
            remove(key)
            return answer.outcome == .authorized
        case (_, .authorized):
            store(key, entry)
            return true
        case (.strict, _):
            remove(key)
            return false
        case (.resilient, .denied), (.allow, .denied):
            store(key, entry)
            return false
        case (.resilient, .unavailable):
            return lookup(key, nowMilliseconds: nowMilliseconds)?.status == 200
        case (.allow, .unavailable):
            if let cached = lookup(key, nowMilliseconds: nowMilliseconds) { return cached.status == 200 }
            store(key, Entry(status: 200, rejectionReason: nil, limitReset: nil, limitMaxValue: nil, limitRemaining: nil, expiresAt: expiry,
                             authrep: authrep()))
            return true
        }
    }
}

/// An authrep made once for a cache entry (its query encoded) and sent again for each request the entry allows, for
/// as long as the product is the compilation it was made from: a changed product (its token, endpoint, credentials
/// kind) makes it anew. The cache key names the credentials, usage and referrer, the rest of the call comes from
/// the product.
final class PreparedAuthrep: Sendable, Equatable {
    let product: AnyObject & Sendable
    let call: MeteringCall

    init(product: GatewayProduct, call: MeteringCall) {
        self.product = product.compilation
        self.call = call.prepared()
    }

    func isMade(for product: GatewayProduct) -> Bool { product.isSameCompilation(as: self.product) }

    static func == (a: PreparedAuthrep, b: PreparedAuthrep) -> Bool { a === b }
}
