public import BackupModel
import Foundation

/// A job's status record as the API sends it: the documented fields (`host`, `username`,
/// `message`, `path`, `subdir`, `timeStamp`, `status`) and this server's extra ones.
///
/// Reading is lenient where other servers of this API family differ: only `timeStamp` is required,
/// `message` is optional, `last_successful` records carry no `status`, and the document types
/// `timeStamp` as a string while its examples send a number (both are read). Writing always sends
/// `timeStamp` as a number, as the examples do.
public struct WireJobRecord: Codable, Sendable, Equatable {
    public var record: JobRecord

    public init(_ record: JobRecord) {
        self.record = record
    }

    enum CodingKeys: String, CodingKey {
        case host, username, message, path, subdir, timeStamp, status, id, backup, finished, components, progress
        case runID = "run_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let timeStamp: Int64
        if let number = try? container.decode(Int64.self, forKey: .timeStamp) {
            timeStamp = number
        } else if let number = Int64(try container.decode(String.self, forKey: .timeStamp)) {
            timeStamp = number
        } else {
            throw DecodingError.dataCorruptedError(forKey: .timeStamp, in: container, debugDescription: "timeStamp is not a number of seconds")
        }
        self.record = JobRecord(
            host: try container.decodeIfPresent(String.self, forKey: .host) ?? "",
            username: try container.decodeIfPresent(String.self, forKey: .username) ?? "",
            message: try container.decodeIfPresent(String.self, forKey: .message) ?? "",
            path: try container.decodeIfPresent(String.self, forKey: .path) ?? "",
            subdir: try container.decodeIfPresent(String.self, forKey: .subdir) ?? "",
            timeStamp: timeStamp,
            status: try container.decodeIfPresent(JobState.self, forKey: .status) ?? .none,
            id: try container.decodeIfPresent(String.self, forKey: .id),
            backup: try container.decodeIfPresent(String.self, forKey: .backup),
            finished: try container.decodeIfPresent(Int64.self, forKey: .finished),
            components: try container.decodeIfPresent([ComponentResult].self, forKey: .components) ?? [],
            progress: try container.decodeIfPresent(JobRecord.Progress.self, forKey: .progress),
            runID: try container.decodeIfPresent(String.self, forKey: .runID))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let record = self.record
        try container.encode(record.host, forKey: .host)
        try container.encode(record.username, forKey: .username)
        try container.encode(record.message, forKey: .message)
        try container.encode(record.path, forKey: .path)
        try container.encode(record.subdir, forKey: .subdir)
        try container.encode(record.timeStamp, forKey: .timeStamp)
        try container.encode(record.status, forKey: .status)
        try container.encodeIfPresent(record.id, forKey: .id)
        try container.encodeIfPresent(record.backup, forKey: .backup)
        try container.encodeIfPresent(record.finished, forKey: .finished)
        try container.encode(record.components, forKey: .components)
        try container.encodeIfPresent(record.progress, forKey: .progress)
        try container.encodeIfPresent(record.runID, forKey: .runID)
    }
}
