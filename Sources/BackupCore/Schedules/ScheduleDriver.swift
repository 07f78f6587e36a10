import Foundation
import Logging

/// How a scheduled run ended.
public enum ScheduledRunOutcome: Sendable, Equatable {
    case completed(String)
    case failed(String)
    /// Not run: another job was running (a run never overlaps one), or it could not start.
    case skipped(String)
}

/// Runs schedules: wakes at the next planned time, runs what is due, remembers what it did.
///
/// - A run that comes due while another job runs is skipped, and recorded with the reason.
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
            if let planned = schedule.expression.nextRun(after: Date(timeIntervalSince1970: TimeInterval(entry.handledUntil)), in: schedule.zone), planned <= now {
                let catchUp = now.timeIntervalSince(planned) > Self.lateness
                entry.handledUntil = Int64(now.timeIntervalSince1970)
                state.schedules[name] = entry
                self.save(state)
                var logger = self.logger
                logger[metadataKey: "schedule"] = "\(name)"
                let delay = self.randomDelay(schedule.configuration.randomDelaySeconds ?? 0)
                if delay > 0 {
                    logger.info("scheduled run waits its random delay", metadata: ["seconds": "\(delay)"])
                    do { try await self.clock.sleep(until: now.addingTimeInterval(TimeInterval(delay))) } catch { break }
                }
                let started = Int64(self.clock.now().timeIntervalSince1970)
                logger.info(catchUp ? "scheduled run (catching up a run missed while the server was down)" : "scheduled run", metadata: ["planned": "\(Int64(planned.timeIntervalSince1970))"])
                let outcome = await self.runner(schedule.configuration, catchUp)
                let plannedSeconds = Int64(planned.timeIntervalSince1970)
                let note = catchUp ? "catch-up of the run planned at \(plannedSeconds)" : ""
                switch outcome {
                case .completed(let message):
                    entry.lastRun = .init(planned: plannedSeconds, at: started, result: "COMPLETED", message: [note, message].filter { !$0.isEmpty }.joined(separator: "; "))
                case .failed(let message):
                    entry.lastRun = .init(planned: plannedSeconds, at: started, result: "ERROR", message: [note, message].filter { !$0.isEmpty }.joined(separator: "; "))
                    logger.error("scheduled run failed", metadata: ["error": "\(message)"])
                case .skipped(let reason):
                    entry.lastSkipped = .init(planned: plannedSeconds, at: started, result: "SKIPPED", message: reason)
                    logger.warning("scheduled run skipped", metadata: ["reason": "\(reason)"])
                }
            }
            let after = max(self.clock.now(), Date(timeIntervalSince1970: TimeInterval(entry.handledUntil)))
            entry.nextRun = schedule.expression.nextRun(after: after, in: schedule.zone).map { Int64($0.timeIntervalSince1970) }
            state.schedules[name] = entry
        }
        self.save(state)
        let nexts = state.schedules.values.compactMap(\.nextRun)
        return nexts.min().map { Date(timeIntervalSince1970: TimeInterval($0)) } ?? self.clock.now().addingTimeInterval(3600)
    }

    private func save(_ state: ScheduleState) {
        do { try state.save(to: self.stateDirectory) } catch {
            self.logger.error("cannot save the schedule state", metadata: ["error": "\(error)"])
        }
    }
}
