import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// How a scheduled run ended.
public enum ScheduledRunOutcome: Sendable, Equatable {
    case completed(String)
    case failed(String)
    /// Not run: it could not start.
    case skipped(String)
    /// Not run yet: another job held the lock (a run never overlaps one). Tried again every minute
    /// until it runs or the schedule's next run is due.
    case busy(String)
}

/// Runs schedules: wakes at the next planned time, runs what is due, remembers what it did.
///
/// - A run that comes due while another job runs is skipped, recorded with the reason, and tried
///   again every minute until that job ends (then it runs, once) or the schedule's next run is due.
/// - A random delay is kept in the state: it delays only its own schedule, and survives a restart.
/// - After downtime the missed runs of a schedule are caught up by one run, at once; a schedule
///   seen for the first time runs at its next time, not at start-up.
/// - What has been handled is saved before a run starts, so a server killed during a run does not
///   run it again and again; the run's interruption is in the job status and the metrics.
public final class ScheduleDriver: Sendable {
    /// Starts a scheduled backup and waits for it. `catchUp`: the run is late (downtime).
    public typealias Runner = @Sendable (_ schedule: ScheduleConfiguration, _ catchUp: Bool) async -> ScheduledRunOutcome

    struct Planned: Sendable {
        let configuration: ScheduleConfiguration
        let expression: CronExpression
        let zone: TimeZone
    }

    let schedules: [Planned]
    let stateDirectory: String
    let clock: any ScheduleClock
    let logger: Logger
    let randomDelay: @Sendable (Int) -> Int
    let runner: Runner
    /// A run more than this late is a catch-up.
    static let lateness: TimeInterval = 120
    /// How often a run skipped because another job held the lock is tried again.
    static let retryInterval: TimeInterval = 60

    /// Checks every schedule (an invalid one is an error here, at start-up, not a silent no-op at night).
    public init(
        schedules: [ScheduleConfiguration], stateDirectory: String, clock: any ScheduleClock = SystemScheduleClock(), logger: Logger,
        randomDelay: @escaping @Sendable (Int) -> Int = { $0 > 0 ? Int.random(in: 0...$0) : 0 }, runner: @escaping Runner
    ) throws {
        try ScheduleConfiguration.validate(schedules)
        self.schedules = try schedules.map { Planned(configuration: $0, expression: try $0.expression(), zone: try $0.zone()) }
        self.stateDirectory = stateDirectory
        self.clock = clock
        self.logger = logger
        self.randomDelay = randomDelay
        self.runner = runner
        _ = try ScheduleState.load(from: stateDirectory)
    }

    /// Runs until the task is cancelled.
    public func run() async {
        guard !self.schedules.isEmpty else { return }
        while !Task.isCancelled {
            let wake = await self.tick()
            do { try await self.clock.sleep(until: wake) } catch { return }
        }
    }

    /// One pass: runs every schedule that is due (one after the other), saves the state, and returns
    /// when to look again (the earliest next run).
    @discardableResult
    public func tick() async -> Date {
        var state: ScheduleState
        do { state = try ScheduleState.load(from: self.stateDirectory) } catch {
            self.logger.error("schedule state unreadable; starting afresh (missed runs are not caught up)", metadata: ["error": "\(error)"])
            state = ScheduleState()
        }
        // Entries of schedules no longer configured go.
        state.schedules = state.schedules.filter { name, _ in self.schedules.contains { $0.configuration.name == name } }
        for schedule in self.schedules where !Task.isCancelled {
            let name = schedule.configuration.name
            let now = self.clock.now()
            var entry = state.schedules[name] ?? ScheduleState.Entry(handledUntil: Int64(now.timeIntervalSince1970))
            var logger = self.logger
            logger[metadataKey: "schedule"] = "\(name)"
            if let planned = schedule.expression.nextRun(after: Date(timeIntervalSince1970: TimeInterval(entry.handledUntil)), in: schedule.zone), planned <= now {
                let catchUp = now.timeIntervalSince(planned) > Self.lateness
                entry.handledUntil = Int64(now.timeIntervalSince1970)
                // A run still waiting for the lock gives way to the one due now.
                entry.retry = nil
                let plannedSeconds = Int64(planned.timeIntervalSince1970)
                let delay = self.randomDelay(schedule.configuration.randomDelaySeconds ?? 0)
                // Waited for in the state, not here: the other schedules go on meanwhile, and a
                // restart during the delay still runs it (issue 24: a stop during the delay lost it).
                // Saved with the handled time, so no crash between the two can lose the run.
                entry.delayed = delay > 0 ? .init(planned: plannedSeconds, starts: Int64(now.timeIntervalSince1970) + Int64(delay), catchUp: catchUp) : nil
                state.schedules[name] = entry
                self.save(state)
                if delay > 0 {
                    logger.info("scheduled run waits its random delay", metadata: ["seconds": "\(delay)"])
                } else {
                    await self.runPlanned(schedule, planned: plannedSeconds, catchUp: catchUp, entry: &entry, logger: logger)
                }
            } else if let delayed = entry.delayed, delayed.starts <= Int64(now.timeIntervalSince1970) {
                entry.delayed = nil
                state.schedules[name] = entry
                self.save(state)
                await self.runPlanned(schedule, planned: delayed.planned, catchUp: delayed.catchUp, entry: &entry, logger: logger)
            } else if let retry = entry.retry {
                // The run skipped while another job held the lock, tried again.
                logger.info("scheduled run tried again (another job held the lock when it was due)", metadata: ["planned": "\(retry)"])
                await self.run(schedule, planned: retry, note: "run late: another job held the lock at its time", catchUp: true, entry: &entry, logger: logger)
            }
            let after = max(self.clock.now(), Date(timeIntervalSince1970: TimeInterval(entry.handledUntil)))
            entry.nextRun = schedule.expression.nextRun(after: after, in: schedule.zone).map { Int64($0.timeIntervalSince1970) }
            state.schedules[name] = entry
        }
        self.save(state)
        var wakes = state.schedules.values.compactMap(\.nextRun).map { Date(timeIntervalSince1970: TimeInterval($0)) }
        wakes += state.schedules.values.compactMap { $0.delayed.map { Date(timeIntervalSince1970: TimeInterval($0.starts)) } }
        if state.schedules.values.contains(where: { $0.retry != nil }) { wakes.append(self.clock.now().addingTimeInterval(Self.retryInterval)) }
        return wakes.min() ?? self.clock.now().addingTimeInterval(3600)
    }

    /// Runs `schedule` for the time it was planned at (now, after its delay, or late after downtime).
    private func runPlanned(_ schedule: Planned, planned: Int64, catchUp: Bool, entry: inout ScheduleState.Entry, logger: Logger) async {
        logger.info(catchUp ? "scheduled run (catching up a run missed while the server was down)" : "scheduled run", metadata: ["planned": "\(planned)"])
        await self.run(schedule, planned: planned, note: catchUp ? "catch-up of the run planned at \(planned)" : "", catchUp: catchUp, entry: &entry, logger: logger)
    }

    /// Runs `schedule` for its planned time `planned` and records how it ended in `entry`.
    private func run(_ schedule: Planned, planned: Int64, note: String, catchUp: Bool, entry: inout ScheduleState.Entry, logger: Logger) async {
        let started = Int64(self.clock.now().timeIntervalSince1970)
        let outcome = await self.runner(schedule.configuration, catchUp)
        entry.retry = nil
        switch outcome {
        case .completed(let message):
            entry.lastRun = .init(planned: planned, at: started, result: "COMPLETED", message: [note, message].filter { !$0.isEmpty }.joined(separator: "; "))
        case .failed(let message):
            entry.lastRun = .init(planned: planned, at: started, result: "ERROR", message: [note, message].filter { !$0.isEmpty }.joined(separator: "; "))
            logger.error("scheduled run failed", metadata: ["error": "\(message)"])
        case .skipped(let reason):
            entry.lastSkipped = .init(planned: planned, at: started, result: "SKIPPED", message: reason)
            logger.warning("scheduled run skipped", metadata: ["reason": "\(reason)"])
        case .busy(let reason):
            entry.retry = planned
            entry.lastSkipped = .init(planned: planned, at: started, result: "SKIPPED", message: reason + "; tried again every minute until it can run")
            logger.warning("scheduled run skipped, to be tried again", metadata: ["reason": "\(reason)"])
        }
    }

    private func save(_ state: ScheduleState) {
        do { try state.save(to: self.stateDirectory) } catch {
            self.logger.error("cannot save the schedule state", metadata: ["error": "\(error)"])
        }
    }
}
