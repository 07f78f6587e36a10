/// The status of the latest rotation (`gwbackup rekey`, or the API's `POST …/rekey`), as the state
/// directory keeps it and `GET …/rekey` answers it. Holds no password: key identifiers only.
public struct RekeyRecord: Codable, Sendable, Equatable {
    /// Names this job among all others; a client that started a rotation waits for a record with a new id.
    public var id: String?
    /// The caller's label for the job (`run_id` in a POST).
    public var runID: String?
    public var status: JobState
    /// Epoch seconds when the job started, and when it ended.
    public var timeStamp: Int64
    public var finished: Int64?
    /// Where the backups are (the store's display name: host and path, never a password).
    public var location: String
    /// The error that stopped the rotation, or a summary, for people.
    public var message: String
    /// Per backup, what was done so far; complete once the job ended.
    public var report: RekeyReport?

    public init(id: String?, runID: String? = nil, status: JobState, timeStamp: Int64, finished: Int64? = nil, location: String, message: String = "", report: RekeyReport? = nil) {
        self.id = id
        self.runID = runID
        self.status = status
        self.timeStamp = timeStamp
        self.finished = finished
        self.location = location
        self.message = message
        self.report = report
    }

    /// The record before any rotation ran.
    public static let none = RekeyRecord(id: nil, status: .none, timeStamp: 0, location: "")

    enum CodingKeys: String, CodingKey {
        case id, status, timeStamp, finished, location, message, report
        case runID = "run_id"
    }
}
