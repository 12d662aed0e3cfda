import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import PorticoCore

/// A client of the 3scale Account Management API (a 3scale tenant or Portico), as export, import and diff use it.
///
/// It speaks only the public API, exactly as 3scale's own clients do: `.json` paths, the `access_token`
/// parameter, JSON bodies, `page`/`per_page` pagination. The token is sent but never printed.
public struct AdminAPIClient: Sendable {
    public let baseURL: String
    let token: String
    static let pageSize = 500

    /// - Parameter baseURL: the tenant's admin address, e.g. `https://acme-admin.3scale.net` or `http://127.0.0.1:3000`.
    public init(baseURL: String, token: String) throws {
        var url = baseURL.trimmingCharacters(in: .whitespacesAndNewlines)
        while url.hasSuffix("/") { url.removeLast() }
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 else {
            throw OperationsError("`\(baseURL)` is not an admin API address; give one like https://acme-admin.3scale.net or http://127.0.0.1:3000")
        }
        guard !token.isEmpty else {
            throw OperationsError("no access token: give --token or PORTICO_ACCESS_TOKEN (an access token with the account_management scope, read-write for import)")
        }
        self.baseURL = url
        self.token = token
    }

    /// Every item of a collection, page by page; items are unwrapped from their root key (`{"service": {...}}`).
    public func list(_ path: String, query: [(String, String)] = []) async throws -> [JSONObject] {
        var all: [JSONObject] = []
        var seen = Set<Int64>()
        var page = 1
        while true {
            let body = try await request(.GET, path, query: query + [("page", String(page)), ("per_page", String(Self.pageSize))])
            let items = Self.items(of: body)
            // An endpoint that does not paginate answers every page with the whole list: stop at the first repeat.
            let fresh = items.filter { item in item["id"].flatMap(\.intValue).map { seen.insert($0).inserted } ?? true }
            all += fresh
            if items.count < Self.pageSize || fresh.count < items.count { return all }
            page += 1
        }
    }

    /// One object, unwrapped from its root key.
    public func get(_ path: String) async throws -> JSONObject {
        Self.unwrap(try await request(.GET, path)) ?? JSONObject()
    }

    @discardableResult
    public func send(_ method: HTTPMethod, _ path: String, _ body: JSONObject = JSONObject()) async throws -> JSONObject {
        Self.unwrap(try await request(method, path, body: body)) ?? JSONObject()
    }

    /// The raw answer of one request; any status outside 2xx becomes an error that says what was refused and why.
    public func request(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSONObject? = nil) async throws -> JSONValue {
        let jsonPath = path.hasSuffix(".json") ? path : path + ".json"
        let queryText = ([("access_token", token)] + query).map { "\(FormEncoding.escape($0.0))=\(FormEncoding.escape($0.1))" }.joined(separator: "&")
        var request = HTTPClientRequest(url: baseURL + jsonPath + "?" + queryText)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "portico/\(PorticoVersion.current)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: JSONValue.object(body).serialized()))
        }
        let what = "\(method.rawValue) \(jsonPath)"
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
            bytes = try await response.body.collect(upTo: 256 << 20)
        } catch {
            throw OperationsError("\(what) on \(baseURL) failed: \(error) — is the admin API reachable at that address?")
        }
        let text = String(buffer: bytes)
        let parsed = (try? JSONParser.parse(text)) ?? .null
        switch response.status.code {
        case 200..<300:
            return parsed
        case 401, 403:
            throw AdminAPIError(status: Int(response.status.code), "\(what) was refused (\(response.status.code)): \(Self.reason(parsed, text)) — check --token: it needs the account_management scope, and read-write access to import")
        case 404:
            throw AdminAPIError(status: 404, "\(what) was not found (404) on \(baseURL): deleted meanwhile, not offered by this API, or not the tenant's admin address")
        default:
            throw AdminAPIError(status: Int(response.status.code), "\(what) was refused (\(response.status.code)): \(Self.reason(parsed, text))")
        }
    }

    static func items(of body: JSONValue) -> [JSONObject] {
        var list: [JSONValue] = []
        switch body {
        case .array(let array): list = array
        case .object(let object):
            // `{"services": [...], "metadata": {...}}`: the one array-valued entry is the collection.
            list = object.entries.first(where: { $0.key != "metadata" && $0.value.arrayValue != nil })?.value.arrayValue ?? []
        default: break
        }
        return list.compactMap(unwrap)
    }

    static func unwrap(_ value: JSONValue) -> JSONObject? {
        guard case .object(let object) = value else { return nil }
        if object.entries.count == 1, case .object(let inner) = object.entries[0].value { return inner }
        return object
    }

    static func reason(_ parsed: JSONValue, _ text: String) -> String {
        if let error = parsed["error"]?.stringValue { return error }
        if case .object(let errors)? = parsed["errors"] {
            return errors.entries.map { entry in
                let messages = entry.value.arrayValue?.compactMap(\.stringValue) ?? [entry.value.stringValue ?? ""]
                return messages.map { entry.key == "base" ? $0 : "\(entry.key) \($0)" }.joined(separator: "; ")
            }.joined(separator: "; ")
        }
        let snippet = text.prefix(200)
        return snippet.isEmpty ? "no explanation given" : String(snippet)
    }
}

/// A refusal by the admin API, with its HTTP status (nil when no answer came).
public struct AdminAPIError: Error, Sendable, CustomStringConvertible {
    public let status: Int?
    public let description: String
    init(status: Int?, _ description: String) {
        self.status = status
        self.description = description
    }
}

extension JSONValue {
    var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .string(let s): return Int64(s)
        case .double(let d) where d == d.rounded(): return Int64(d)
        default: return nil
        }
    }
}

/// Percent-encoding for query strings (RFC 3986 unreserved characters pass through).
enum FormEncoding {
    static func escape(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%\(hex[Int(byte >> 4)])\(hex[Int(byte & 0xF)])"
            }
        }
        return out
    }
}
