/// The backup side of the status: the last successful backup and the latest one started. (The
/// API's rendering, `[{"last_successful": …, "running": …}]`, is GatewayWire's `WireBackupStatus`.)
public struct BackupStatus: Codable, Sendable, Equatable {
    /// The last backup that completed; nil before the first.
    public var lastSuccessful: JobRecord?
    /// The latest backup started, running or finished.
    public var running: JobRecord

    enum CodingKeys: String, CodingKey {
        case lastSuccessful, running
        /// The key status files written before version 0.9 used.
        case legacyLastSuccessful = "last_successful"
    }

    public init(lastSuccessful: JobRecord? = nil, running: JobRecord = .none) {
        self.lastSuccessful = lastSuccessful
        self.running = running
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.running = try container.decode(JobRecord.self, forKey: .running)
        self.lastSuccessful = try container.decodeIfPresent(JobRecord.self, forKey: .lastSuccessful)
            ?? container.decodeIfPresent(JobRecord.self, forKey: .legacyLastSuccessful)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(self.lastSuccessful, forKey: .lastSuccessful)
        try container.encode(self.running, forKey: .running)
    }
}
