import PorticoCore
import Testing
@testable import PorticoOperations

/// The pure parts of export/import/diff: the YAML form, the document checks and the comparison.
@Suite struct ConfigurationDocumentTests {
    // MARK: YAML

    @Test func stringsThatLookLikeOtherTypesSurviveARoundTrip() throws {
        let tricky: [String] = ["1", "1.0", "-2", "0x1F", "true", "false", "yes", "no", "on", "off", "null", "~", "", " ", "2024-01-01",
                                "1e3", ".inf", "- item", "key: value", "#comment", "a # b", "'quoted'", "\"double\"", "@at", "`tick",
                                "%pct", "!bang", "&anchor", "*alias", "{a: 1}", "[1, 2]", "/checkout$", "GET /items → inventory/items",
                                "line one\nline two", "trailing space \nnext", "\ttab", "crlf\r\nline", "ünïcødé ✓", "  leading", "trailing  "]
        for s in tricky {
            let document: JSONValue = .object(["value": .string(s), "list": .array([.string(s)])])
            let text = try ConfigurationYAML.render(document)
            #expect(try ConfigurationYAML.parse(text) == document, "\(s.debugDescription) was written as:\n\(text)")
        }
    }

    @Test func typedValuesAndOrderSurviveARoundTrip() throws {
        let document: JSONValue = .object([
            "portico_configuration": 1, "zeta": true, "alpha": .null, "decimal": 10.5, "negative": -3, "big": .int(Int64.max),
            "nested": .object(["b": .array([1, "two", .object(["c": false])]), "a": .object([:])]), "empty": .array([]),
        ])
        let parsed = try ConfigurationYAML.parse(try ConfigurationYAML.render(document))
        #expect(parsed == document)
        #expect(parsed.objectValue?.keys == document.objectValue?.keys, "key order is kept")
    }

    /// A property test: random documents of every value kind render and parse back to themselves.
    @Test func randomDocumentsRoundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("aZ09 :-#'\"\n\t{}[],&*!|>%@`?ü✓.")
        func randomString() -> String { String((0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }) }
        func randomValue(depth: Int) -> JSONValue {
            switch Int.random(in: 0...(depth > 2 ? 4 : 6), using: &generator) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &generator))
            case 2: return .int(Int64.random(in: -1_000_000...1_000_000, using: &generator))
            case 3: return .double(Double(Int.random(in: -10_000...10_000, using: &generator)) / 8)
            case 4: return .string(randomString())
            case 5: return .array((0..<Int.random(in: 0...3, using: &generator)).map { _ in randomValue(depth: depth + 1) })
            default:
                var object = JSONObject()
                for _ in 0..<Int.random(in: 0...3, using: &generator) { object[randomString()] = randomValue(depth: depth + 1) }
                return .object(object)
            }
        }
        for _ in 0..<300 {
            var root = JSONObject()
            for _ in 0..<4 { root[randomString()] = randomValue(depth: 0) }
            let text = try ConfigurationYAML.render(.object(root))
            #expect(try ConfigurationYAML.parse(text) == .object(root), "written as:\n\(text)")
        }
    }

    @Test func malformedYAMLIsRefusedWithTheReason() {
        for (text, reason) in [("a: [1, 2", "not valid YAML"), ("", "empty"), ("a: 1\na: 2\n", "unique")] {
            #expect(throws: OperationsError.self, "\(reason)") { try ConfigurationYAML.parse(text) }
            do { _ = try ConfigurationYAML.parse(text) } catch { #expect("\(error)".contains(reason), "\(error)") }
        }
    }

    // MARK: document checks

    @Test func documentsAreCheckedBeforeUse() throws {
        #expect(throws: OperationsError.self) { try ConfigurationSchema.validate(.array([])) }
        #expect(throws: OperationsError.self) { try ConfigurationSchema.validate(.object(["products": .array([])])) }
        #expect(throws: OperationsError.self) { try ConfigurationSchema.validate(.object(["portico_configuration": 2])) }
        let duplicated: JSONValue = .object([
            "portico_configuration": 1,
            "products": .array([.object(["system_name": "a"]), .object(["system_name": "a"]), .object(["name": "unnamed"])]),
            "accounts": "not a list",
        ])
        do {
            _ = try ConfigurationSchema.validate(duplicated)
            Issue.record("accepted a broken document")
        } catch {
            let text = "\(error)"
            #expect(text.contains("3 problem(s)") && text.contains("two products named `a`") && text.contains("products[2] is not a product")
                && text.contains("accounts must be a list"), "\(text)")
        }
        #expect(try ConfigurationSchema.validate(.object(["portico_configuration": 1])).keys == ["portico_configuration"])
    }

    @Test func secretsAndInternalIdsAreLeftOutOfWrittenDocuments() {
        let read: JSONObject = [
            "products": .array([.object(["_id": 7, "system_name": "shop", "proxy": .object(["secret_token": "s", "auth_user_key": "user_key"])])]),
            "accounts": .array([.object(["_id": 9, "org_name": "Acme", "applications": .array([
                .object(["_id": 3, "name": "app", "user_key": "k", "keys": .array(["a"]), "application_id": "id", "description": "d"]),
            ])])]),
        ]
        let plain = JSONValue.object(ConfigurationSchema.publishable(read, includeSecrets: false)).serializedString
        #expect(!plain.contains("\"_id\"") && !plain.contains("secret_token") && !plain.contains("user_key\":\"k") && !plain.contains("application_id"))
        #expect(plain.contains("auth_user_key") && plain.contains("\"description\":\"d\""))
        let secret = JSONValue.object(ConfigurationSchema.publishable(read, includeSecrets: true)).serializedString
        #expect(!secret.contains("\"_id\"") && secret.contains("secret_token") && secret.contains("\"user_key\":\"k\"") && secret.contains("application_id"))
    }

    // MARK: comparison

    static func document(_ products: [JSONValue], accounts: [JSONValue]? = nil) -> JSONObject {
        var d: JSONObject = ["portico_configuration": 1, "products": .array(products)]
        if let accounts { d["accounts"] = .array(accounts) }
        return d
    }

    @Test func equalValuesAreEqualHoweverTheAPIWritesThem() {
        #expect(ConfigurationDiff.same(.int(1), .double(1.0)))
        #expect(ConfigurationDiff.same(.string("0.5"), .double(0.5)))
        #expect(ConfigurationDiff.same(.null, nil) && ConfigurationDiff.same(.string(""), .null))
        #expect(ConfigurationDiff.same(.object(["a": 1, "b": 2]), .object(["b": 2, "a": 1])))
        #expect(!ConfigurationDiff.same(.string("a"), .string("b")))
        #expect(!ConfigurationDiff.same(.array([1, 2]), .array([2, 1])), "lists keep their order (policy chains)")
        #expect(!ConfigurationDiff.same(.bool(true), .string("yes")))
    }

    @Test func onlyWhatTheDocumentHoldsIsCompared() {
        let actual = Self.document([
            .object(["_id": 1, "system_name": "shop", "name": "Shop", "description": "on the instance only",
                     "proxy": .object(["error_status_auth_failed": 403, "secret_token": "x"]),
                     "application_plans": .array([.object(["_id": 5, "system_name": "pro", "default": true, "features": .array(["b", "a"])])])]),
            .object(["_id": 2, "system_name": "legacy", "name": "Legacy"]),
        ])
        let desired = Self.document([
            .object(["system_name": "shop", "name": "Shop v2", "proxy": .object(["error_status_auth_failed": 401]),
                     "application_plans": .array([.object(["system_name": "pro", "default": false, "features": .array(["a", "b"])]),
                                                  .object(["system_name": "basic"])])]),
            .object(["system_name": "new", "name": "New", "metrics": .array([.object(["system_name": "hits"])])]),
        ])
        let changes = ConfigurationDiff.changes(desired: desired, actual: actual)
        let lines = changes.map(\.description)
        #expect(lines == [
            "~ product shop\n    name: \"Shop\" → \"Shop v2\"\n    proxy.error_status_auth_failed: 403 → 401",
            "+ product shop › application plan basic",
            "+ product new (with 1 metrics)",
            "- product legacy",
        ], "\(lines)")
        #expect(changes.first?.ancestors.isEmpty == true && changes[1].ancestors.first.flatMap { ConfigurationTarget.id($0.actual) } == 1)
        // Lists the document leaves out are not managed: no account is reported.
        #expect(!lines.contains { $0.contains("account") })
        #expect(ConfigurationDiff.changes(desired: actual, actual: actual).isEmpty)
    }

    @Test func secretValuesAreNeverPrinted() {
        let actual = Self.document([], accounts: [.object(["_id": 1, "org_name": "Acme", "applications": .array([
            .object(["_id": 2, "product": "shop", "name": "app", "user_key": "old-secret"]),
        ])])])
        let desired = Self.document([], accounts: [.object(["org_name": "Acme", "applications": .array([
            .object(["product": "shop", "name": "app", "user_key": "new-secret"]),
        ])])])
        let text = ConfigurationDiff.changes(desired: desired, actual: actual).map(\.description).joined()
        #expect(text.contains("user_key: (secret) → (secret)") && !text.contains("old-secret") && !text.contains("new-secret"), "\(text)")
    }

    @Test func referencesToMetricsResolveThroughTheirBackend() throws {
        let target = ConfigurationTarget(document: [
            "backend_apis": .array([.object(["_id": 10, "system_name": "inventory", "metrics": .array([
                .object(["_id": 11, "system_name": "hits", "methods": .array([.object(["_id": 12, "system_name": "list"])])]),
            ])])]),
            "products": .array([.object(["_id": 1, "system_name": "shop", "metrics": .array([.object(["_id": 2, "system_name": "hits"])])])]),
        ])
        let product = try target.product("shop")
        #expect(try target.metricID(["metric": "hits"], owner: product) == 2)
        #expect(try target.metricID(["metric": "hits", "backend": "inventory"], owner: product) == 11)
        #expect(try target.metricID(["metric": "list", "backend": "inventory"], owner: product) == 12)
        #expect(throws: ConfigurationTarget.Unresolved.self) { try target.metricID(["metric": "missing"], owner: product) }
        #expect(throws: ConfigurationTarget.Unresolved.self) { try target.metricID(["metric": "hits", "backend": "gone"], owner: product) }
    }
}
