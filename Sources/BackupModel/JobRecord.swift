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

        public init(completedComponents: Int, totalComponents: Int, bytes: UInt64) {
            self.completedComponents = completedComponents
            self.totalComponents = totalComponents
            self.bytes = bytes
        }

        enum CodingKeys: String, CodingKey {
            case completedComponents = "completed_components"
            case totalComponents = "total_components"
            case bytes
        }
    }

    // As stored in the state directory. The API's rendering of a record (and its leniency towards
    // other servers of the family) is GatewayWire's `WireJobRecord`.
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

    /// The record before any job ran.
    public static let none = JobRecord(host: "", username: "", path: "", timeStamp: 0, status: .none)
}
