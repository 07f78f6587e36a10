/// A job's status as the API reports it.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case none = "NONE"
    case executing = "EXECUTING"
    case error = "ERROR"
    case completed = "COMPLETED"
}
