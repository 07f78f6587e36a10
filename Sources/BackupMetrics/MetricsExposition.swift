public import BackupCore
public import BackupModel
import BackupPOSIX
import Foundation
import Prometheus

/// The Prometheus metrics of an appliance, made from what the state directory holds (the job
/// statistics, the status records, the schedules): the same text for `GET /metrics` and for
/// `--metrics-file` (node_exporter's textfile collector). Labels are bounded: `operation` (backup,
/// restore), `result` (completed, error), `component` (the manifest's names, at most 64) and
/// `schedule` (configured names); never a backup name or a job id. None is a label Prometheus sets
/// on its targets (`job`, `instance`): a scrape would rename it (`exported_job`) and the shipped
/// rules would select nothing (issue 24).
public struct MetricsExposition: Sendable {
    /// A schedule as the metrics show it.
    public struct ScheduleView: Sendable {
        public var name: String
        /// As the scheduler planned it (its saved state): a scheduler that stopped leaves it in the past.
        public var nextRun: Int64?
        /// When the schedule was last due (whether or not it ran): "overdue" is a due run not
        /// followed by a success, whatever the expression and the time zone.
        public var previousRun: Int64?
        public var lastSkipped: Int64?
        /// Seconds between two runs (for "no success within 1.5 intervals").
        public var intervalSeconds: Int64?

        public init(name: String, nextRun: Int64?, previousRun: Int64? = nil, lastSkipped: Int64?, intervalSeconds: Int64?) {
            self.name = name
            self.nextRun = nextRun
            self.previousRun = previousRun
            self.lastSkipped = lastSkipped
            self.intervalSeconds = intervalSeconds
        }

        /// The views of `schedules`: the next run the scheduler saved (else the expression's), the
        /// last time it was due, the last skipped run, and the interval between the next two runs.
        public static func views(_ schedules: [ScheduleConfiguration], state: ScheduleState, now: Date = Date()) -> [ScheduleView] {
            schedules.map { schedule in
                ScheduleView(
                    name: schedule.name, nextRun: state.nextRun(of: schedule, now: now),
                    previousRun: schedule.previous(atOrBefore: now).map { Int64($0.timeIntervalSince1970) },
                    lastSkipped: state.schedules[schedule.name]?.lastSkipped?.at,
                    intervalSeconds: schedule.upcoming(after: now)?.interval.map { Int64($0) })
            }
        }
    }

    public var statistics: JobStatistics
    public var backup: BackupStatus
    public var restore: JobRecord
    public var schedules: [ScheduleView]

    public init(statistics: JobStatistics, backup: BackupStatus, restore: JobRecord, schedules: [ScheduleView] = []) {
        self.statistics = statistics
        self.backup = backup
        self.restore = restore
        self.schedules = schedules
    }

    /// Reads everything from a status store (after marking a dead process's job interrupted, as the
    /// API's status requests do).
    public static func load(from status: StatusStore, schedules: [ScheduleView] = []) throws -> MetricsExposition {
        try status.recoverInterrupted()
        return MetricsExposition(statistics: try status.statistics(), backup: try status.backupStatus(), restore: try status.restoreStatus(), schedules: schedules)
    }

    /// The exposition text (Prometheus text format 0.0.4).
    public func render() -> String {
        let registry = PrometheusCollectorRegistry()
        let kinds: [(JobStatistics.JobKindName, JobStatistics.Kind, JobRecord)] = [
            (.backup, self.statistics.backup, self.backup.running), (.restore, self.statistics.restore, self.restore),
        ]
        for (name, kind, latest) in kinds {
            let job = [("operation", name.rawValue)]
            // 0 = never: an alert on the age of the last success fires for an appliance never backed up.
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_last_success_timestamp_seconds", help: "When the last successful job ended (epoch seconds; 0: never)."), labels: job)
                .set(Double(kind.lastSuccess ?? 0))
            let attempt = latest.status == .none ? (kind.lastAttempt ?? 0) : latest.timeStamp
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_last_attempt_timestamp_seconds", help: "When the latest job started (epoch seconds; 0: never)."), labels: job)
                .set(Double(attempt))
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_job_in_progress", help: "1 while a job of this kind runs."), labels: job)
                .set(latest.status == .executing ? 1.0 : 0.0)
            registry.makeCounter(descriptor: Self.descriptor("gwbackup_job_runs_total", help: "Jobs ended, by result."), labels: job + [("result", "completed")])
                .increment(by: Int64(kind.completed))
            registry.makeCounter(descriptor: Self.descriptor("gwbackup_job_runs_total", help: "Jobs ended, by result."), labels: job + [("result", "error")])
                .increment(by: Int64(kind.errors))
            let histogram = registry.makeValueHistogram(
                descriptor: Self.descriptor("gwbackup_job_duration_seconds", help: "How long jobs took, start to end."), labels: job, buckets: JobStatistics.DurationHistogram.bounds)
            for value in kind.durations.replayValues() { histogram.record(value) }
        }
        registry.makeGauge(descriptor: Self.descriptor("gwbackup_backup_size_bytes", help: "Stored bytes of the last successful backup (0: none yet)."))
            .set(Double(self.statistics.lastBackupBytes ?? 0))
        // Proofs that backups restore (0: never): a verification that decrypted every component, and
        // a drill that restored every component into a scratch root and read it back unchanged.
        let proofs = self.statistics.proofs
        registry.makeGauge(descriptor: Self.descriptor("gwbackup_last_verified_timestamp_seconds", help: "When a verification last decrypted and read a whole backup (epoch seconds; 0: never)."))
            .set(Double(proofs.lastVerified ?? 0))
        registry.makeGauge(descriptor: Self.descriptor("gwbackup_last_verify_attempt_timestamp_seconds", help: "When a verification with the password was last tried (epoch seconds; 0: never)."))
            .set(Double(proofs.lastVerifyAttempt ?? 0))
        registry.makeGauge(descriptor: Self.descriptor("gwbackup_last_drill_success_timestamp_seconds", help: "When a restore drill last passed (epoch seconds; 0: never)."))
            .set(Double(proofs.lastDrillSuccess ?? 0))
        registry.makeGauge(descriptor: Self.descriptor("gwbackup_last_drill_attempt_timestamp_seconds", help: "When a restore drill was last tried (epoch seconds; 0: never)."))
            .set(Double(proofs.lastDrillAttempt ?? 0))
        for (component, seconds) in self.statistics.componentLastSuccess.sorted(by: { $0.key < $1.key }) {
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_component_last_success_timestamp_seconds", help: "When each component was last backed up successfully (epoch seconds)."), labels: [("component", component)])
                .set(Double(seconds))
        }
        for schedule in self.schedules {
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_schedule_next_run_timestamp_seconds", help: "When each schedule runs next (epoch seconds; 0: never again)."), labels: [("schedule", schedule.name)])
                .set(Double(schedule.nextRun ?? 0))
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_schedule_previous_run_timestamp_seconds", help: "When each schedule was last due, run or not (epoch seconds; 0: never)."), labels: [("schedule", schedule.name)])
                .set(Double(schedule.previousRun ?? 0))
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_schedule_last_skipped_timestamp_seconds", help: "When each schedule last skipped a run (epoch seconds; 0: never)."), labels: [("schedule", schedule.name)])
                .set(Double(schedule.lastSkipped ?? 0))
            registry.makeGauge(descriptor: Self.descriptor("gwbackup_schedule_interval_seconds", help: "Seconds between a schedule's next two runs."), labels: [("schedule", schedule.name)])
                .set(Double(schedule.intervalSeconds ?? 0))
        }
        return registry.emitToString()
    }

    /// A full metric name as a descriptor: `gwbackup_` + name + `_` + unit (`seconds`, `bytes`,
    /// `total`), or no unit for the rest.
    static func descriptor(_ fullName: String, help: String) -> MetricNameDescriptor {
        var name = String(fullName.dropFirst("gwbackup_".count))
        var unit = ""
        for suffix in ["_seconds", "_bytes", "_total"] where name.hasSuffix(suffix) {
            unit = String(suffix.dropFirst())
            name = String(name.dropLast(suffix.count))
        }
        return MetricNameDescriptor(namespace: "gwbackup", metricName: name, unitName: unit, helpText: help)
    }

    /// Writes the text atomically (node_exporter's textfile collector must never read half a file):
    /// a temporary file in the same directory, then a rename. Mode 0644: metrics hold no secret, and
    /// the collector runs as another user.
    public func write(to path: String) throws {
        try FileTree.writeAtomically(Data(self.render().utf8), to: path, mode: 0o644)
    }
}
