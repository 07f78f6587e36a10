/// The kinds of job the API starts with a job request: the document's two, and this server's
/// restore preview (an extension, which changes nothing).
public enum JobKind: String, Sendable, CaseIterable {
    case backup, restore, preview

    /// The resource below the service path that a POST starts it at and a GET reports it from.
    public var resource: String {
        switch self {
        case .backup, .restore: self.rawValue
        case .preview: "restore/preview"
        }
    }
}
