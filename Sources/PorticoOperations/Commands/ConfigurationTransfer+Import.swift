import Foundation
import PorticoCore

extension ConfigurationTransfer {
    public struct ImportOutcome: Sendable {
        public var created = 0
        public var updated = 0
        public var deleted = 0
        public var changedAnything: Bool { created + updated + deleted > 0 }
    }

    /// Makes the instance hold what the document describes, as far as the mode allows; idempotent.
    ///
    /// Prints the plan first (every creation, change and deletion), then carries it out in dependency order:
    /// objects are created before what refers to them, and each round re-reads the instance, so what 3scale
    /// creates by itself (a product's `hits` metric, a signup's first application) is matched, not duplicated.
    /// Deletions come last, children first, and only those the plan showed.
    public static func importDocument(file: String, into api: AdminAPIClient, options: ImportOptions, output: @escaping @Sendable (String) -> Void,
                                      progress: @escaping @Sendable (String) -> Void) async throws -> ImportOutcome
    {
        let started = Date()
        let desired = try load(file)
        let reader = TenantExport(api: api, progress: progress)
        var actual = try await reader.read()
        let plan = ConfigurationDiff.changes(desired: desired, actual: actual)

        output("plan for \(api.baseURL) (mode \(options.mode.rawValue)):")
        if plan.isEmpty { output("  nothing to do: the instance already holds what \(file) describes") }
        for change in plan {
            switch (change.action, options.mode) {
            case (.delete, .replace): output(change.description + "   (deleted: the document does not hold it)")
            case (.delete, _): output("= \(change.path)   (only on the instance; kept — --mode replace would delete it)")
            case (.update, .createOnly): output(change.description.replacingFirstLine { "\($0)   (differs; create-only mode leaves it)" })
            default: output(change.description)
            }
        }
        var outcome = ImportOutcome()
        if !plan.contains(where: options.mode.carriesOut) {
            if !plan.isEmpty { output("nothing to do in mode \(options.mode.rawValue)") }
            if options.promote, !options.dryRun { try await promote(desired: desired, actual: actual, api: api, output: output) }
            return outcome
        }
        if options.dryRun {
            output("dry run: nothing was changed")
            return outcome
        }
        // 3scale's API cannot give an existing application another application id; say so before changing anything.
        let idChanges = plan.filter { $0.action == .update && $0.fields.contains { $0.name == "application_id" } }
        if !idChanges.isEmpty, options.mode != .createOnly {
            throw OperationsError("""
                the document gives \(idChanges.count) existing application(s) another application_id, which 3scale's API cannot change:
                \(idChanges.map { "  \($0.path)" }.joined(separator: "\n"))
                Nothing was changed. Delete those applications on the instance (their usage history goes with them) and import again \
                to have them created with the document's credentials, or import a document without credentials.
                """)
        }
        let deletions = plan.filter { $0.action == .delete && options.mode == .replace }
        if !deletions.isEmpty, !options.confirmDeletions {
            throw OperationsError("""
                replace mode would delete the \(deletions.count) object(s) marked `-` above; nothing was changed. \
                Re-run with --yes to delete them, or use --mode upsert to keep them.
                """)
        }

        // Creations and changes, round by round, until the instance matches or nothing more can be done.
        var createdPaths = Set<String>()
        var appliedUpdates = Set<String>()
        for round in 1... {
            let changes = round == 1 ? plan : ConfigurationDiff.changes(desired: desired, actual: actual)
            var todo: [ConfigurationChange] = []
            var stuck: [String] = []
            for change in changes {
                switch change.action {
                case .create: todo.append(change)
                case .update where options.mode != .createOnly:
                    // An update the instance did not keep would be retried forever: report it instead.
                    if appliedUpdates.contains(change.signature) { stuck.append(change.description) } else { todo.append(change) }
                case .delete where change.ancestorPaths.contains(where: createdPaths.contains):
                    // Made by the instance itself when this run created the parent (a signup's application, a product's default plan).
                    todo.append(change)
                default: break
                }
            }
            if !stuck.isEmpty {
                throw OperationsError("the instance did not keep these changes (its API accepted them but shows other values):\n"
                    + stuck.joined(separator: "\n") + "\n\(outcome.created) created, \(outcome.updated) changed before this point")
            }
            if todo.isEmpty { break }
            let applier = ChangeApplier(api: api, target: ConfigurationTarget(document: actual))
            var waiting: [String] = []
            var progressed = false
            for change in todo {
                do {
                    try await applier.apply(change)
                } catch let unresolved as ConfigurationTarget.Unresolved {
                    waiting.append("\(change.path): \(unresolved.description)")
                    continue
                } catch {
                    throw OperationsError("""
                        import stopped at \(change.path): \(error)
                        \(outcome.created) created, \(outcome.updated) changed, \(outcome.deleted) deleted before it. \
                        Fix the document or the instance and run import again: it continues from what is there.
                        """)
                }
                progressed = true
                switch change.action {
                case .create:
                    outcome.created += 1
                    createdPaths.insert(change.path)
                    output("created \(change.path)")
                case .update:
                    outcome.updated += 1
                    appliedUpdates.insert(change.signature)
                    output("changed \(change.path) (\(change.fields.map(\.name).joined(separator: ", ")))")
                case .delete:
                    outcome.deleted += 1
                    output("removed \(change.path) (made by the instance when its parent was created; the document does not hold it)")
                }
            }
            if !progressed {
                throw OperationsError("these objects refer to things neither the document nor the instance has:\n"
                    + waiting.map { "  \($0)" }.joined(separator: "\n"))
            }
            actual = try await reader.read()
        }

        // Deletions the plan showed, children before parents; a child of something deleted goes with it.
        if !deletions.isEmpty {
            let shown = Set(deletions.map(\.path))
            let current = ConfigurationDiff.changes(desired: desired, actual: actual).filter { $0.action == .delete && shown.contains($0.path) }
            let deleting = Set(current.map(\.path))
            let applier = ChangeApplier(api: api, target: ConfigurationTarget(document: actual))
            for change in current.sorted(by: { $0.ancestors.count > $1.ancestors.count })
            where !change.ancestorPaths.contains(where: deleting.contains) {
                do {
                    try await applier.apply(change)
                } catch {
                    throw OperationsError("import stopped deleting \(change.path): \(error)\n\(outcome.created) created, \(outcome.updated) changed, \(outcome.deleted) deleted before it")
                }
                outcome.deleted += 1
                output("deleted \(change.path)")
            }
            actual = try await reader.read()
        }

        if options.promote { try await promote(desired: desired, actual: actual, api: api, output: output) }
        let remaining = ConfigurationDiff.changes(desired: desired, actual: actual).filter(options.mode.carriesOut)
        if !remaining.isEmpty {
            throw OperationsError("after the import the instance still differs:\n" + remaining.map(\.description).joined(separator: "\n"))
        }
        output("imported \(file) into \(api.baseURL): \(outcome.created) created, \(outcome.updated) changed, \(outcome.deleted) deleted in \(seconds(since: started))")
        return outcome
    }

    /// Promotes each product's newest staging configuration to production where production serves another one.
    static func promote(desired: JSONObject, actual: JSONObject, api: AdminAPIClient, output: (String) -> Void) async throws {
        let target = ConfigurationTarget(document: actual)
        for case .object(let product) in desired["products"]?.arrayValue ?? [] {
            guard let name = product["system_name"]?.stringValue, let id = try? target.productID(name) else { continue }
            let staging = try await api.get("/admin/api/services/\(id)/proxy/configs/sandbox/latest")
            guard let version = staging["version"]?.intValue else { continue }
            let production: JSONObject?
            do {
                production = try await api.get("/admin/api/services/\(id)/proxy/configs/production/latest")
            } catch let error as AdminAPIError where error.status == 404 {
                production = nil
            }
            if let production, ConfigurationDiff.same(production["content"], staging["content"]) { continue }
            _ = try await api.request(.POST, "/admin/api/services/\(id)/proxy/configs/sandbox/\(version)/promote", query: [("to", "production")])
            output("promoted product \(name) staging version \(version) to production")
        }
    }
}

extension ConfigurationTransfer.Mode {
    /// Whether an import in this mode makes the change: create-only never changes, only replace deletes.
    func carriesOut(_ change: ConfigurationChange) -> Bool {
        switch change.action {
        case .create: return true
        case .update: return self != .createOnly
        case .delete: return self == .replace
        }
    }
}

extension ConfigurationChange {
    /// The paths of the enclosing objects, outermost first.
    var ancestorPaths: [String] {
        ancestors.indices.map { i in ancestors[...i].map { "\($0.schema.label) \($0.key)" }.joined(separator: " › ") }
    }

    /// Identifies an update by what it sets, to notice one the instance does not keep.
    var signature: String {
        path + "|" + fields.map { "\($0.name)=\($0.new.serializedString)" }.joined(separator: "|")
    }
}

extension String {
    func replacingFirstLine(_ transform: (String) -> String) -> String {
        guard let newline = firstIndex(of: "\n") else { return transform(self) }
        return transform(String(self[..<newline])) + String(self[newline...])
    }
}
