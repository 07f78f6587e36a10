/// One component's part in a job, reported beside the documented fields.
public struct ComponentResult: Codable, Sendable, Equatable {
    /// What happened to the component.
    public enum Outcome: String, Codable, Sendable {
        case pending, running, ok, warning, failed, skipped, rolledBack = "rolled_back"
    }

    public var name: String
    public var status: Outcome
    public var message: String
    /// Encrypted bytes written or read.
    public var bytes: UInt64?
    /// A restore's preview (`--dry-run`) and `gwbackup diff`: what differs, path by path.
    public var changes: ComponentChanges?

    public init(name: String, status: Outcome, message: String = "", bytes: UInt64? = nil) {
        self.name = name
        self.status = status
        self.message = message
        self.bytes = bytes
    }
}
