import BackupModel
import BackupPOSIX

/// Checks a manifest against the plugins available, reporting every problem with its component and
/// field rather than stopping at the first.
public struct ManifestValidator: Sendable {
    public var registry: PluginRegistry

    public init(registry: PluginRegistry) {
        self.registry = registry
    }

    /// Every problem in `manifest`; empty when it can be used.
    public func validate(_ manifest: Manifest) -> [ManifestIssue] {
        var issues: [ManifestIssue] = []
        if manifest.version != Manifest.currentVersion {
            issues.append(.init(component: nil, field: "version", message: "unknown manifest version \(manifest.version); this build reads version \(Manifest.currentVersion)"))
        }
        if manifest.appliance.isEmpty || !manifest.appliance.allSatisfy(Self.isNameCharacter) {
            issues.append(.init(component: nil, field: "appliance", message: "must be non-empty lowercase letters, digits, '-' or '_'"))
        }
        if manifest.components.isEmpty {
            issues.append(.init(component: nil, field: "components", message: "lists no component"))
        }
        var seen: Set<String> = []
        for (index, component) in manifest.components.enumerated() {
            let label = component.name.isEmpty ? "#\(index)" : component.name
            if component.name.isEmpty || !component.name.allSatisfy(Self.isNameCharacter) || component.name.count > 64 {
                issues.append(.init(component: label, field: "name", message: "must be 1-64 lowercase letters, digits, '-' or '_'"))
            }
            if !seen.insert(component.name).inserted {
                issues.append(.init(component: label, field: "name", message: "duplicate component name"))
            }
            for (tagIndex, tag) in component.tags.enumerated() where tag.isEmpty {
                issues.append(.init(component: label, field: "tags[\(tagIndex)]", message: "is empty"))
            }
            guard let plugin = self.registry.plugin(id: component.plugin) else {
                let known = self.registry.plugins.map(\.id).sorted().joined(separator: ", ")
                issues.append(.init(component: label, field: "plugin", message: "unknown plugin '\(component.plugin)' (available: \(known))"))
                continue
            }
            for problem in plugin.parameterSchema.problems(in: component.parameters) {
                issues.append(.init(component: label, field: problem.field, message: problem.message))
            }
        }
        return issues
    }

    static func isNameCharacter(_ character: Character) -> Bool {
        ("a"..."z").contains(character) || ("0"..."9").contains(character) || character == "-" || character == "_"
    }
}
