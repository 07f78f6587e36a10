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
    /// The backup's name, once known.
    public var backup: String?
    /// Epoch seconds when the job ended.
    public var finished: Int64?
    public var components: [ComponentResult]
    /// Components done so far, and in all.
    public var progress: Progress?

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
        case host, username, message, path, subdir, timeStamp, status, backup, finished, components, progress
    }

    public init(host: String, username: String, message: String = "", path: String, subdir: String = "", timeStamp: Int64, status: JobState, backup: String? = nil, finished: Int64? = nil, components: [ComponentResult] = [], progress: Progress? = nil) {
        self.host = host
        self.username = username
        self.message = message
        self.path = path
        self.subdir = subdir
        self.timeStamp = timeStamp
        self.status = status
        self.backup = backup
        self.finished = finished
        self.components = components
        self.progress = progress
    }

    /// The record before any job ran.
    public static let none = JobRecord(host: "", username: "", path: "", timeStamp: 0, status: .none)
}
