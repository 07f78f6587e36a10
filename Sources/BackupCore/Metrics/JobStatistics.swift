import BackupModel
import BackupPOSIX
import Foundation

/// What monitoring needs to know about past jobs, kept in the state directory beside the status
/// (`job-statistics.json`) so that counters and histograms survive a restart of the server and
/// count the CLI's jobs too. Updated once per job, when its final record is saved.
public struct JobStatistics: Codable, Sendable, Equatable {
    /// One kind of job (backup or restore).
    public struct Kind: Codable, Sendable, Equatable {
        public var completed: Int = 0
        public var errors: Int = 0
        /// Epoch seconds when the last successful job ended.
        public var lastSuccess: Int64?
        /// Epoch seconds when the latest job ended, successful or not.
        public var lastAttempt: Int64?
        /// How long jobs took.
        public var durations = DurationHistogram()
        /// The last job counted, so that saving its final record twice counts it once.
        public var lastCountedID: String?

        public init() {}
    }

    /// A histogram of job durations in fixed buckets (seconds), as Prometheus exposes it.
    public struct DurationHistogram: Codable, Sendable, Equatable {
        /// Upper bounds of the buckets, in seconds; a last bucket (+Inf) holds the rest.
        public static let bounds: [Double] = [1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200]
        /// Observations per bucket (not cumulative); one more than `bounds`.
        public var counts: [Int] = Array(repeating: 0, count: Self.bounds.count + 1)
        public var sum: Double = 0

        public init() {}

        public var count: Int { self.counts.reduce(0, +) }

        public mutating func record(_ seconds: Double) {
            let value = max(0, seconds.isFinite ? seconds : 0)
            let index = Self.bounds.firstIndex { value <= $0 } ?? Self.bounds.count
            if self.counts.count != Self.bounds.count + 1 { self.counts = Array(repeating: 0, count: Self.bounds.count + 1) }
            self.counts[index] += 1
            self.sum += value
        }

        /// Values that, recorded one by one into an empty histogram with the same bounds, give these
        /// very bucket counts and this sum: how a registry that only accepts observations is given
        /// the persisted state. Each value stays inside its bucket; the sum is spread over them.
        public func replayValues() -> [Double] {
            guard self.counts.count == Self.bounds.count + 1 else { return [] }
            var values: [Double] = []
            var lowers: [Double] = []
            for (index, count) in self.counts.enumerated() where count > 0 {
                let lower = index == 0 ? 0 : Self.bounds[index - 1]
                let value = index < Self.bounds.count ? Self.bounds[index] : lower + 1
                for _ in 0..<count {
                    values.append(value)
                    lowers.append(lower)
                }
            }
            var deficit = self.sum - values.reduce(0, +)
            if deficit < 0 {
                for index in values.indices where deficit < 0 {
                    // Strictly above the lower bound: a value equal to it would fall in the bucket below.
                    let floor = lowers[index] == 0 ? 0 : lowers[index] + max(1e-6, lowers[index] * 1e-9)
                    let room = max(0, values[index] - floor)
                    let take = min(room, -deficit)
                    values[index] -= take
                    deficit += take
                }
            } else if deficit > 0, self.counts.last ?? 0 > 0, let last = values.indices.last {
                values[last] += deficit  // the +Inf bucket's observations have no upper bound
            }
            return values
        }
    }

    public var backup = Kind()
    public var restore = Kind()
    /// Stored bytes of the last successful backup.
    public var lastBackupBytes: UInt64?
    /// Epoch seconds when each component was last backed up successfully (at most `componentLimit`
    /// names: the label set stays bounded whatever manifests come and go).
    public var componentLastSuccess: [String: Int64] = [:]
    public static let componentLimit = 64
    /// When backups were last proven readable and restorable.
    public var proofs = Proofs()

    /// Verifications that decrypted a whole backup, and restore drills (`RestoreDrill`): when each
    /// last passed and was last tried, in epoch seconds.
    public struct Proofs: Codable, Sendable, Equatable {
        public var lastVerified: Int64?
        public var lastVerifyAttempt: Int64?
        public var lastDrillSuccess: Int64?
        public var lastDrillAttempt: Int64?

        public init() {}

        public mutating func recordVerification(ok: Bool, at time: Int64) {
            self.lastVerifyAttempt = time
            if ok { self.lastVerified = time }
        }

        public mutating func recordDrill(ok: Bool, at time: Int64) {
            self.lastDrillAttempt = time
            if ok { self.lastDrillSuccess = time }
        }
    }

    public init() {}

    /// Statistics written before `proofs` existed read with none recorded.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.backup = try container.decode(Kind.self, forKey: .backup)
        self.restore = try container.decode(Kind.self, forKey: .restore)
        self.lastBackupBytes = try container.decodeIfPresent(UInt64.self, forKey: .lastBackupBytes)
        self.componentLastSuccess = try container.decodeIfPresent([String: Int64].self, forKey: .componentLastSuccess) ?? [:]
        self.proofs = try container.decodeIfPresent(Proofs.self, forKey: .proofs) ?? Proofs()
    }

    /// Counts a job whose record has just reached its final state; a record counted already, or
    /// not final yet, changes nothing. Returns whether it counted.
    @discardableResult
    public mutating func count(_ record: JobRecord, job: JobKindName) -> Bool {
        guard record.status == .completed || record.status == .error else { return false }
        var kind = job == .backup ? self.backup : self.restore
        if let id = record.id, kind.lastCountedID == id { return false }
        let finished = record.finished ?? record.timeStamp
        kind.lastCountedID = record.id
        kind.lastAttempt = finished
        kind.durations.record(Double(max(0, finished - record.timeStamp)))
        if record.status == .completed {
            kind.completed += 1
            kind.lastSuccess = finished
        } else {
            kind.errors += 1
        }
        if job == .backup {
            self.backup = kind
            if record.status == .completed {
                self.lastBackupBytes = record.progress?.bytes ?? record.components.compactMap(\.bytes).reduce(0, +)
            }
            for component in record.components where component.status == .ok || component.status == .warning {
                self.componentLastSuccess[component.name] = finished
            }
            if self.componentLastSuccess.count > Self.componentLimit {
                let oldest = self.componentLastSuccess.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.prefix(self.componentLastSuccess.count - Self.componentLimit)
                for (name, _) in oldest { self.componentLastSuccess[name] = nil }
            }
        } else {
            self.restore = kind
        }
        return true
    }

    /// The two kinds of job, as metric labels name them.
    public enum JobKindName: String, Sendable, CaseIterable {
        case backup, restore
    }
}
