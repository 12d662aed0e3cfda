import PorticoCore
import Yams

/// The YAML form of a configuration document: JSON's data model (null, booleans, integers, decimals,
/// strings, lists, ordered mappings) written and read as block YAML, so a human can read and edit it.
///
/// Strings that YAML would read back as something else (`"1"`, `"true"`, `"null"`, `"2024-01-01"`) are
/// quoted when written, so a document survives any number of write/read round trips unchanged.
public enum ConfigurationYAML {
    public static func render(_ value: JSONValue) throws -> String {
        do {
            return try Yams.serialize(node: node(value), indent: 2, width: -1, allowUnicode: true, sortKeys: false)
        } catch {
            throw OperationsError("could not write the document as YAML: \(error)")
        }
    }

    /// Parses a document; errors name the line and column.
    public static func parse(_ text: String) throws -> JSONValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw OperationsError("the file is not valid YAML: \(error)")
        } catch {
            throw OperationsError("the file is not valid YAML: \(error)")
        }
        guard let root else { throw OperationsError("the file is empty; expected a document written by portico export") }
        return try value(root)
    }

    static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null), .plain)
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool), .plain)
        case .int(let i): return Node(String(i), Tag(.int), .plain)
        case .double(let d): return Node(d.isFinite ? "\(d)" : (d.isNaN ? ".nan" : (d < 0 ? "-.inf" : ".inf")), Tag(.float), .plain)
        case .string(let s): return Node(s, Tag(.str), scalarStyle(for: s))
        case .array(let items): return Node(items.map(node), Tag(.seq), .block)
        case .object(let object): return Node(object.entries.map { (Node($0.key, Tag(.str), scalarStyle(for: $0.key)), node($0.value)) }, Tag(.map), .block)
        }
    }

    /// Plain when YAML reads the text back as the same string; multi-line text as a literal block; quoted otherwise.
    static func scalarStyle(for s: String) -> Node.Scalar.Style {
        if s.contains("\n") {
            // Literal blocks cannot keep trailing spaces on lines or carriage returns exactly; quote those.
            let safe = !s.contains("\r") && !s.contains("\t") && !s.split(separator: "\n", omittingEmptySubsequences: false).contains { $0.last == " " }
                && s.first != " "
            return safe ? .literal : .doubleQuoted
        }
        if s.isEmpty { return .singleQuoted }
        return Resolver.default.resolveTag(of: Node(s)) == .str ? .any : .singleQuoted
    }

    static func value(_ node: Node) throws -> JSONValue {
        switch node {
        case .scalar(let scalar):
            // Quoted scalars are strings; plain ones are what YAML's core schema reads them as.
            switch scalar.style == .plain || scalar.style == .any ? Resolver.default.resolveTag(of: node) : .str {
            case .null: return .null
            case .bool: if let b = node.bool { return .bool(b) }
            case .int: if let i = Int64(String(scalar.string.filter { $0 != "_" })) { return .int(i) }
            case .float: if let d = node.float { return .double(d) }
            default: break
            }
            return .string(scalar.string)
        case .sequence(let sequence):
            return .array(try sequence.map(value))
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, item) in mapping {
                guard case .scalar(let k) = key else {
                    throw OperationsError("line \(line(key)): mapping keys must be plain words, not lists or mappings")
                }
                if object[k.string] != nil { throw OperationsError("line \(line(key)): the key `\(k.string)` appears twice in one mapping") }
                object[k.string] = try value(item)
            }
            return .object(object)
        case .alias:
            throw OperationsError("line \(line(node)): YAML aliases (*name) are not accepted; write the value out")
        }
    }

    static func line(_ node: Node) -> String { node.mark.map { String($0.line) } ?? "?" }
}
