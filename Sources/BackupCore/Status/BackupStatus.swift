/// What `GET …/backup` reports: the last successful backup and the latest one started.
public struct BackupStatus: Codable, Sendable, Equatable {
    /// The last backup that completed; nil before the first.
    public var lastSuccessful: JobRecord?
    /// The latest backup started, running or finished.
    public var running: JobRecord

    enum CodingKeys: String, CodingKey {
        case lastSuccessful = "last_successful"
        case running
    }

    public init(lastSuccessful: JobRecord? = nil, running: JobRecord = .none) {
        self.lastSuccessful = lastSuccessful
        self.running = running
    }
}
