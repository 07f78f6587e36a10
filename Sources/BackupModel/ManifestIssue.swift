/// One problem found in a manifest, located by component and field.
public struct ManifestIssue: Sendable, Equatable, CustomStringConvertible, Codable {
    /// The component concerned; nil for the manifest's own fields.
    public var component: String?
    /// The field concerned, e.g. `plugin` or `parameters.paths[0]`.
    public var field: String
    /// What is wrong.
    public var message: String

    public init(component: String?, field: String, message: String) {
        self.component = component
        self.field = field
        self.message = message
    }

    public var description: String {
        if let component = self.component {
            return "component '\(component)', field '\(self.field)': \(self.message)"
        }
        return "field '\(self.field)': \(self.message)"
    }
}
