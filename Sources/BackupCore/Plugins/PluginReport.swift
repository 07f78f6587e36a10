/// What a plugin reports after a step that did not fail.
public struct PluginReport: Sendable, Equatable {
    /// Things the operator should know that did not stop the step.
    public var warnings: [String]
    /// What the step did, in the plugin's words (an external plugin's reply `message`), for the
    /// component's line in the status.
    public var message: String

    public init(warnings: [String] = [], message: String = "") {
        self.warnings = warnings
        self.message = message
    }
}
