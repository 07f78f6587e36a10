/// What a plugin reports after a step that did not fail.
public struct PluginReport: Sendable, Equatable {
    /// Things the operator should know that did not stop the step.
    public var warnings: [String]

    public init(warnings: [String] = []) {
        self.warnings = warnings
    }
}
