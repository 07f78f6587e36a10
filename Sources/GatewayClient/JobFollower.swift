public import BackupModel
public import GatewayWire

/// Starts a job on the server and follows it to its end by polling its status, the way the API
/// intends (a POST answers 204 at once; the job runs in the background).
public struct JobFollower: Sendable {
    public let client: APIClient
    /// Time between two polls.
    public var pollInterval: Duration = .seconds(1)
    /// Polls in a row that may fail to reach the server (a restart, a dropped connection) before
    /// giving up.
    public var toleratedFailures = 10
    /// How long an accepted job may take to show in the status.
    public var appearTimeout: Duration = .seconds(30)

    public init(client: APIClient) {
        self.client = client
    }

    /// Starts the job and returns the record it replaces, which `wait` needs to tell the new job
    /// from the previous one.
    public func start(_ kind: JobKind, _ request: WireJobRequest) async throws -> JobRecord {
        let previous = try await self.client.status(of: kind)
        try await self.client.start(kind, request)
        return previous
    }

    /// Polls until the job that replaced `previous` has ended; `onUpdate` sees each new state.
    /// Returns the final record (`COMPLETED` or `ERROR`).
    public func wait(_ kind: JobKind, after previous: JobRecord, onUpdate: (JobRecord) -> Void = { _ in }) async throws -> JobRecord {
        try await self.poll(
            what: kind.rawValue, status: { try await self.client.status(of: kind) },
            isNew: { Self.isNewJob($0, previous: previous) }, isRunning: { $0.status == .executing }, onUpdate: onUpdate)
    }

    /// Starts a rotation (`POST …/rekey`) and returns the record it replaces.
    public func startRekey(_ request: WireRekeyRequest) async throws -> RekeyRecord {
        let previous = try await self.client.rekeyStatus()
        try await self.client.startRekey(request)
        return previous
    }

    /// Polls until the rotation that replaced `previous` has ended; returns its final record.
    public func waitForRekey(after previous: RekeyRecord, onUpdate: (RekeyRecord) -> Void = { _ in }) async throws -> RekeyRecord {
        try await self.poll(
            what: "rekey", status: { try await self.client.rekeyStatus() },
            isNew: { $0.id != nil && $0.id != previous.id }, isRunning: { $0.status == .executing }, onUpdate: onUpdate)
    }

    /// The polling loop: tolerates `toleratedFailures` unreachable polls in a row, and a job that
    /// takes up to `appearTimeout` to show.
    private func poll<Record>(
        what: String, status: () async throws -> Record, isNew: (Record) -> Bool, isRunning: (Record) -> Bool, onUpdate: (Record) -> Void
    ) async throws -> Record {
        let clock = ContinuousClock()
        let appearDeadline = clock.now + self.appearTimeout
        var failures = 0
        while true {
            let record: Record
            do {
                record = try await status()
                failures = 0
            } catch let error as BackupError where error.code == .connection {
                failures += 1
                if failures > self.toleratedFailures {
                    throw BackupError(
                        .connection,
                        "lost contact with the server while waiting for the \(what) (\(error.message)); it may still be running: ask with 'gwbackup --server \(self.client.configuration.baseURL) status'")
                }
                try await Task.sleep(for: self.pollInterval)
                continue
            }
            if isNew(record) {
                onUpdate(record)
                if !isRunning(record) { return record }
            } else if clock.now > appearDeadline {
                throw BackupError(.system, "the server accepted the \(what) but its status has not shown it for \(self.appearTimeout)")
            }
            try await Task.sleep(for: self.pollInterval)
        }
    }

    /// True when `record` belongs to a later job than `previous`: by id where the server gives one,
    /// else by any change (servers that report only the documented fields).
    public static func isNewJob(_ record: JobRecord, previous: JobRecord) -> Bool {
        if let id = record.id { return id != previous.id }
        return record != previous
    }
}
