import PorticoCore

/// Report jobs as apisonator's listener writes them to `resque:queue:priority` (reference/service-management-api.md
/// §8.3), so jobs queued by either product can be applied by the other's worker:
/// `{"class":"ThreeScale::Backend::Transactor::ReportJob","args":[service_id, {"0":{…},…}, enqueue_time, context]}`.
/// Portico adds `portico_job_id` to the context; apisonator ignores it, Portico's worker uses it to apply a job
/// at most once.
public enum ReportJobCodec {
    public static let jobClass = "ThreeScale::Backend::Transactor::ReportJob"

    public static func encode(_ job: ReportJob) -> String {
        var transactions = JSONObject()
        for (index, transaction) in job.transactions.enumerated() { transactions[String(index)] = json(transaction) }
        var request = JSONObject()
        if !job.extensions.isEmpty {
            request["extensions"] = .object(JSONObject(job.extensions.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        }
        var context: JSONObject = ["request": .object(request)]
        if let id = job.id { context["portico_job_id"] = .string(id) }
        let payload: JSONValue = .object([
            "class": .string(jobClass),
            "args": .array([.string(job.serviceID), .object(transactions), .double(Double(job.enqueuedAt.secondsSinceEpoch)), .object(context)]),
        ])
        return payload.serializedString
    }

    /// nil for payloads that are not report jobs.
    public static func decode(_ payload: String) -> ReportJob? {
        guard let value = try? JSONParser.parse(payload), value["class"]?.stringValue == jobClass,
              let args = value["args"]?.arrayValue, args.count >= 2, let serviceID = args[0].stringValue else { return nil }
        var transactions: [ParameterValue] = []
        switch args[1] {
        case .object(let object):
            // Rack-style index keys; ordered numerically as apisonator's worker iterates them.
            let sorted = object.entries.sorted { (Int($0.key) ?? Int.max, $0.key) < (Int($1.key) ?? Int.max, $1.key) }
            transactions = sorted.map { parameter($0.value) }
        case .array(let items):
            transactions = items.map(parameter)
        default:
            return nil
        }
        var enqueuedAt = Timestamp(secondsSinceEpoch: 0)
        if args.count > 2 {
            switch args[2] {
            case .double(let d): enqueuedAt = Timestamp(secondsSinceEpoch: Int64(d))
            case .int(let i): enqueuedAt = Timestamp(secondsSinceEpoch: i)
            default: break
            }
        }
        var extensions: [String: String] = [:]
        var id: String?
        if args.count > 3 {
            for (key, value) in args[3]["request"]?["extensions"]?.objectValue?.entries ?? [] {
                if let s = value.stringValue { extensions[key] = s }
            }
            id = args[3]["portico_job_id"]?.stringValue
        }
        return ReportJob(serviceID: serviceID, transactions: transactions, enqueuedAt: enqueuedAt,
                         flatUsage: extensions["flat_usage"] == "1", extensions: extensions, id: id)
    }

    static func json(_ value: ParameterValue) -> JSONValue {
        switch value {
        case .string(let s): return .string(s)
        case .array(let items): return .array(items.map(json))
        case .hash(let h, let order): return .object(JSONObject(order.compactMap { k in h[k].map { (k, json($0)) } }))
        }
    }

    static func parameter(_ value: JSONValue) -> ParameterValue {
        switch value {
        case .object(let o): return .hash(Dictionary(o.entries.map { ($0.key, parameter($0.value)) }, uniquingKeysWith: { _, last in last }), order: o.keys)
        case .array(let items): return .array(items.map(parameter))
        case .null: return .string("")
        default: return .string(value.stringValue ?? "")
        }
    }
}
