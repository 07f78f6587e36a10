import Foundation

/// The status of one backup or restore: the documented fields (`host`, `username`, `message`,
/// `path`, `subdir`, `timeStamp`, `status`) plus per-component results and progress.
public struct JobRecord: Codable, Sendable, Equatable {
    public var host: String
    public var username: String
    /// Warnings or the error, for people.
    public var message: String
    /// For a backup, the path as requested; for a restore, the backup that was used.
    public var path: String
    /// The backup's directory (path plus backup name).
    public var subdir: String
    /// Epoch seconds when the job started.
    public var timeStamp: Int64
    public var status: JobState
    /// Names this job among all others (a backup and a restore in the same second differ here); a
    /// client that started a job waits for a record with a new id.
    public var id: String?
    /// The backup's name, once known.
    public var backup: String?
    /// Epoch seconds when the job ended.
    public var finished: Int64?
    public var components: [ComponentResult]
    /// Components done so far, and in all.
    public var progress: Progress?
    /// The label the caller gave the job (`run_id` in a POST): one id for a whole fleet run.
    public var runID: String?

    /// Whether `text` can be a run id: 1-128 characters of letters, digits and `._:+-`, so that it
    /// is safe in a log line, a file name and a shell alike.
    public static func isValidRunID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 128
            && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._:+-".unicodeScalars.contains($0)) }
    }

    /// How far a job has come.
    public struct Progress: Codable, Sendable, Equatable {
        public var completedComponents: Int
        public var totalComponents: Int
        public var bytes: UInt64

        enum CodingKeys: String, CodingKey {
            case completedComponents = "completed_components"
            case totalComponents = "total_components"
            case bytes
        }
    }

    enum CodingKeys: String, CodingKey {
        case host, username, message, path, subdir, timeStamp, status, id, backup, finished, components, progress
        case runID = "run_id"
    }

    public init(host: String, username: String, message: String = "", path: String, subdir: String = "", timeStamp: Int64, status: JobState, id: String? = nil, backup: String? = nil, finished: Int64? = nil, components: [ComponentResult] = [], progress: Progress? = nil, runID: String? = nil) {
        self.host = host
        self.username = username
        self.message = message
        self.path = path
        self.subdir = subdir
        self.timeStamp = timeStamp
        self.status = status
        self.id = id
        self.backup = backup
        self.finished = finished
        self.components = components
        self.progress = progress
        self.runID = runID
    }

    /// Decodes a record; only `timeStamp` is required, since other servers of this API family send
    /// only the documented fields: `last_successful` has no `status`, `message` is optional, and the
    /// document types `timeStamp` as a string while its examples send a number (both are read).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.host = try container.decodeIfPresent(String.self, forKey: .host) ?? ""
        self.username = try container.decodeIfPresent(String.self, forKey: .username) ?? ""
        self.message = try container.decodeIfPresent(String.self, forKey: .message) ?? ""
        self.path = try container.decodeIfPresent(String.self, forKey: .path) ?? ""
        self.subdir = try container.decodeIfPresent(String.self, forKey: .subdir) ?? ""
        if let number = try? container.decode(Int64.self, forKey: .timeStamp) {
            self.timeStamp = number
        } else if let number = Int64(try container.decode(String.self, forKey: .timeStamp)) {
            self.timeStamp = number
        } else {
            throw DecodingError.dataCorruptedError(forKey: .timeStamp, in: container, debugDescription: "timeStamp is not a number of seconds")
        }
        self.status = try container.decodeIfPresent(JobState.self, forKey: .status) ?? .none
        self.id = try container.decodeIfPresent(String.self, forKey: .id)
        self.backup = try container.decodeIfPresent(String.self, forKey: .backup)
        self.finished = try container.decodeIfPresent(Int64.self, forKey: .finished)
        self.components = try container.decodeIfPresent([ComponentResult].self, forKey: .components) ?? []
        self.progress = try container.decodeIfPresent(Progress.self, forKey: .progress)
        self.runID = try container.decodeIfPresent(String.self, forKey: .runID)
    }

    /// The record before any job ran.
    public static let none = JobRecord(host: "", username: "", path: "", timeStamp: 0, status: .none)
}
