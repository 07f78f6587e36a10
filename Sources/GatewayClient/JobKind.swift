/// The two kinds of job the API starts.
public enum JobKind: String, Sendable, CaseIterable {
    case backup, restore
}
