import PorticoCore

/// `headers`: set, push, add or delete request headers (before proxying) and response headers.
public struct HeadersPolicy: Sendable {
    public enum Operation: String, Sendable { case set, push, add, delete }
    public struct Command: Sendable {
        var op: Operation
        var header: String
        var value: LiquidTemplate?
        var plainValue: String
    }

    var request: [Command]
    var response: [Command]

    init(_ c: JSONValue) throws(GatewayConfigurationError) {
        request = try Self.commands(c["request"])
        response = try Self.commands(c["response"])
    }

    static func commands(_ v: JSONValue?) throws(GatewayConfigurationError) -> [Command] {
        var out: [Command] = []
        for entry in v?.arrayValue ?? [] {
            guard let op = Operation(rawValue: entry["op"]?.stringValue ?? ""), let header = entry["header"]?.stringValue, !header.isEmpty else {
                throw GatewayConfigurationError("each command needs op (set, push, add, delete) and header")
            }
            let raw = entry["value"]?.stringValue ?? ""
            let template = entry["value_type"]?.stringValue == "liquid" ? try LiquidTemplate(raw) : nil
            out.append(Command(op: op, header: header, value: template, plainValue: raw))
        }
        return out
    }

    /// Applies commands to a header list (name, value), case-insensitively by name.
    static func apply(_ commands: [Command], to headers: inout [(String, String)], lookup: (String) -> String?) {
        for c in commands {
            let value = c.value?.render(lookup) ?? c.plainValue
            let lowered = c.header.lowercased()
            let exists = headers.contains { $0.0.lowercased() == lowered }
            switch c.op {
            case .set:
                headers.removeAll { $0.0.lowercased() == lowered }
                if !value.isEmpty { headers.append((c.header, value)) }
            case .push:
                if !value.isEmpty { headers.append((c.header, value)) }
            case .add:
                if exists, !value.isEmpty { headers.append((c.header, value)) }
            case .delete:
                headers.removeAll { $0.0.lowercased() == lowered }
            }
        }
    }
}
