import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Logging
import Testing

/// A clock the test moves: `sleep(until:)` jumps to the time asked, and is recorded.
final class ManualClock: ScheduleClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    private(set) var sleeps: [Date] = []

    init(_ start: Date) { self.current = start }

    func now() -> Date { self.lock.withLock { self.current } }

    func set(_ date: Date) { self.lock.withLock { self.current = date } }

    func sleep(until date: Date) async throws {
        try Task.checkCancellation()
        self.lock.withLock {
            self.sleeps.append(date)
            self.current = max(self.current, date)
        }
    }
}

@Suite("Schedules", .serialized)
struct ScheduleTests {
    static let paris = TimeZone(identifier: "Europe/Paris")!

    static func parisTime(_ text: String) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = Self.paris
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.date(from: text)!
    }

    /// A schedule backing the fixture's appliance up into its backup directory at 02:00 Paris time,
    /// and the driver that runs it through the server's real path (lock, supervisor, retention).
    func driver(_ fixture: Fixture, clock: ManualClock, retention: RetentionPolicy? = nil, delay: Int = 0) throws -> (ScheduleDriver, ScheduleConfiguration) {
        let credentials = fixture.directory.sub("nightly.credentials")
        try FileTree.writeAtomically(Data(#"{"security_pwd": "\#(fixture.password.revealed)"}"#.utf8), to: credentials, mode: 0o600)
        let schedule = ScheduleConfiguration(
            name: "nightly", cron: "0 2 * * *", timeZone: "Europe/Paris", destination: .init(hostname: "localhost", path: fixture.backups),
            credentialsFile: credentials, retention: retention, randomDelaySeconds: delay)
        var configuration = APIConfiguration()
        configuration.stateDirectory = fixture.state
        configuration.schedules = [schedule]
        let runtime = fixture.runtime
        let settings = configuration
        let logger = RecordingLogHandler.logger(fixture.logLines)
        let supervisor = JobSupervisor(logger: logger)
        let driver = try ScheduleDriver(schedules: [schedule], stateDirectory: fixture.state, clock: clock, logger: logger, randomDelay: { _ in delay }) { schedule, catchUp in
            await ScheduleService.runBackup(schedule, catchUp: catchUp, configuration: settings, runtime: runtime, supervisor: supervisor, logger: logger)
        }
        return (driver, schedule)
    }

    func backups(_ fixture: Fixture) throws -> [String] {
        guard try FileStatus.of(fixture.backups) != nil else { return [] }
        return try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.sorted()
    }

    @Test func aScheduleFiresAtItsTimeSkipsAnOverlapAndCatchesUpOnceAfterDowntime() async throws {
        let fixture = try Fixture("schedule")
        let clock = ManualClock(Self.parisTime("2026-11-29 10:00:00"))
        let (driver, _) = try self.driver(fixture, clock: clock, retention: RetentionPolicy(keepLast: 2))

        // First look: a schedule never seen runs at its next time, not now.
        let wake = await driver.tick()
        #expect(wake == Self.parisTime("2026-11-30 02:00:00"))
        #expect(try self.backups(fixture).isEmpty)
        #expect(try ScheduleState.load(from: fixture.state).schedules["nightly"]?.nextRun == Int64(wake.timeIntervalSince1970))

        // Its time comes: a real backup, with the schedule's run id.
        clock.set(wake.addingTimeInterval(3))
        let next = await driver.tick()
        #expect(next == Self.parisTime("2026-12-01 02:00:00"))
        #expect(try self.backups(fixture).count == 1)
        let status = try fixture.runtime.status.backupStatus()
        #expect(status.running.status == .completed && status.running.runID == "schedule:nightly", "\(status.running)")
        var entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.lastRun?.result == "COMPLETED" && entry.lastRun?.planned == Int64(wake.timeIntervalSince1970))
        #expect(entry.lastSkipped == nil)

        // The next night another job holds the lock: the run is skipped, with the reason, and nothing is made.
        let lock = try JobLock.acquire(stateDirectory: fixture.state, description: "restore from somewhere")
        clock.set(next.addingTimeInterval(1))
        await driver.tick()
        lock.release()
        entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.lastSkipped?.result == "SKIPPED" && entry.lastSkipped?.message.contains("another job was running") == true, "\(String(describing: entry.lastSkipped))")
        #expect(entry.lastSkipped?.planned == Int64(next.timeIntervalSince1970))
        #expect(try self.backups(fixture).count == 1)
        #expect(fixture.logLines.all.contains { $0.contains("scheduled run skipped") })

        // The server is down for three nights: one catch-up run at start, not three.
        clock.set(Self.parisTime("2026-12-04 09:30:00"))
        await driver.tick()
        #expect(try self.backups(fixture).count == 2)
        entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.lastRun?.message.contains("catch-up") == true, "\(String(describing: entry.lastRun))")
        #expect(entry.lastRun?.planned == Int64(Self.parisTime("2026-12-02 02:00:00").timeIntervalSince1970), "the first missed run")
        #expect(entry.nextRun == Int64(Self.parisTime("2026-12-05 02:00:00").timeIntervalSince1970))
        await driver.tick()
        #expect(try self.backups(fixture).count == 2, "caught up once")

        // A third run: retention (keep the last 2) deletes the oldest.
        clock.set(Self.parisTime("2026-12-05 02:00:00"))
        await driver.tick()
        #expect(try self.backups(fixture).count == 2)
        entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.lastRun?.message.contains("retention kept 2, deleted 1") == true, "\(String(describing: entry.lastRun))")
    }

    /// Issue 24: a run skipped because another job held the lock was never run; now it is tried
    /// every minute and runs once the lock is free, within its schedule's period.
    @Test func aRunSkippedBecauseAJobHeldTheLockRunsOnceWhenItFrees() async throws {
        let fixture = try Fixture("schedule-busy")
        let clock = ManualClock(Self.parisTime("2026-11-29 10:00:00"))
        let (driver, _) = try self.driver(fixture, clock: clock)
        let due = await driver.tick()
        // Its time comes while a restore holds the lock: skipped, to be tried again in a minute.
        let lock = try JobLock.acquire(stateDirectory: fixture.state, description: "restore from somewhere")
        clock.set(due.addingTimeInterval(1))
        var wake = await driver.tick()
        #expect(wake == due.addingTimeInterval(61), "tried again a minute later")
        #expect(try self.backups(fixture).isEmpty)
        // Still held a minute later: skipped again, still waiting.
        clock.set(wake)
        wake = await driver.tick()
        #expect(wake == due.addingTimeInterval(121))
        #expect(try ScheduleState.load(from: fixture.state).schedules["nightly"]?.retry == Int64(due.timeIntervalSince1970))
        // The restore ends: the next try runs the backup, for the planned time, and says it was late.
        lock.release()
        clock.set(wake)
        wake = await driver.tick()
        #expect(try self.backups(fixture).count == 1)
        let entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.retry == nil)
        #expect(entry.lastRun?.result == "COMPLETED" && entry.lastRun?.planned == Int64(due.timeIntervalSince1970), "\(String(describing: entry.lastRun))")
        #expect(entry.lastRun?.message.contains("another job held the lock") == true)
        #expect(wake == Self.parisTime("2026-12-01 02:00:00"), "then the next night, not another try")
        // Once: a later look runs nothing more.
        clock.set(wake.addingTimeInterval(-3600))
        await driver.tick()
        #expect(try self.backups(fixture).count == 1)
    }

    /// A run still waiting for the lock gives way to the schedule's next run: never two for one night.
    @Test func aRetryStopsWhenTheNextRunIsDue() async throws {
        let fixture = try Fixture("schedule-busy-long")
        let clock = ManualClock(Self.parisTime("2026-11-29 10:00:00"))
        let (driver, _) = try self.driver(fixture, clock: clock)
        let due = await driver.tick()
        let lock = try JobLock.acquire(stateDirectory: fixture.state, description: "a very long restore")
        clock.set(due.addingTimeInterval(1))
        await driver.tick()
        // Held until the next night's run is due: that one runs, the old one is dropped.
        lock.release()
        clock.set(Self.parisTime("2026-12-01 02:00:30"))
        await driver.tick()
        #expect(try self.backups(fixture).count == 1)
        let entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.retry == nil)
        #expect(entry.lastRun?.planned == Int64(Self.parisTime("2026-12-01 02:00:00").timeIntervalSince1970), "\(String(describing: entry.lastRun))")
    }

    @Test func aRandomDelayIsWaitedAndAFailedRunIsRecorded() async throws {
        let fixture = try Fixture("schedule-delay")
        let clock = ManualClock(Self.parisTime("2026-11-29 10:00:00"))
        let (driver, schedule) = try self.driver(fixture, clock: clock, delay: 300)
        let due = await driver.tick()
        clock.set(due)
        // Due: the run waits its delay, in the state (the driver does not sleep on it).
        let delayed = await driver.tick()
        #expect(delayed == due.addingTimeInterval(300))
        #expect(try self.backups(fixture).isEmpty)
        #expect(try ScheduleState.load(from: fixture.state).schedules["nightly"]?.delayed?.starts == Int64(due.timeIntervalSince1970) + 300)
        // The server restarts during the delay (a new driver on the same state): the run still happens.
        let (restarted, _) = try self.driver(fixture, clock: clock, delay: 300)
        clock.set(delayed)
        let next = await restarted.tick()
        #expect(try self.backups(fixture).count == 1)
        var entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.lastRun.map { $0.at - $0.planned } == 300)
        #expect(entry.delayed == nil && next == Self.parisTime("2026-12-01 02:00:00"))

        // The credentials file loses its security password: the run fails, says why, and the next is planned.
        try FileTree.writeAtomically(Data(#"{"password": "x"}"#.utf8), to: schedule.credentialsFile, mode: 0o600)
        clock.set(Self.parisTime("2026-12-01 02:00:00"))
        await restarted.tick()
        clock.set(Self.parisTime("2026-12-01 02:05:00"))
        await restarted.tick()
        entry = try #require(try ScheduleState.load(from: fixture.state).schedules["nightly"])
        #expect(entry.lastRun?.result == "ERROR" && entry.lastRun?.message.contains("security_pwd") == true, "\(String(describing: entry.lastRun))")
        #expect(entry.nextRun == Int64(Self.parisTime("2026-12-02 02:00:00").timeIntervalSince1970))
    }

    /// A schedule's random delay delays only that schedule (it used to hold every other back).
    @Test func aRandomDelayDelaysOnlyItsOwnSchedule() async throws {
        let fixture = try Fixture("schedule-two")
        let clock = ManualClock(Self.parisTime("2026-11-29 01:59:00"))
        final class Runs: @unchecked Sendable {
            let lock = NSLock()
            var names: [String] = []
        }
        let runs = Runs()
        let destination = ScheduleConfiguration.Destination(hostname: "localhost")
        let schedules = [
            ScheduleConfiguration(name: "slow", cron: "0 2 * * *", timeZone: "Europe/Paris", destination: destination, credentialsFile: "/nonexistent", randomDelaySeconds: 3600),
            ScheduleConfiguration(name: "prompt", cron: "0 2 * * *", timeZone: "Europe/Paris", destination: destination, credentialsFile: "/nonexistent"),
        ]
        let driver = try ScheduleDriver(
            schedules: schedules, stateDirectory: fixture.state, clock: clock, logger: RecordingLogHandler.logger(fixture.logLines), randomDelay: { $0 }
        ) { schedule, _ in
            runs.lock.withLock { runs.names.append(schedule.name) }
            return .completed("")
        }
        let due = await driver.tick()
        clock.set(due)
        let wake = await driver.tick()
        #expect(runs.lock.withLock { runs.names } == ["prompt"], "the schedule without a delay ran at its time")
        #expect(wake == due.addingTimeInterval(3600))
        clock.set(wake)
        await driver.tick()
        #expect(runs.lock.withLock { runs.names } == ["prompt", "slow"])
    }

    @Test func anUnreadableScheduleStateStopsTheStartRatherThanDroppingAMissedRun() throws {
        let fixture = try Fixture("schedule-state")
        try FileTree.makeDirectories(fixture.state, mode: 0o700)
        try FileTree.writeAtomically(Data("{torn".utf8), to: fixture.state + "/schedule-state.json")
        #expect {
            _ = try self.driver(fixture, clock: ManualClock(Self.parisTime("2026-11-29 10:00:00")))
        } throws: { error in
            (error as? BackupError)?.message.contains("remove it to start the schedules afresh") == true
        }
    }

    @Test func credentialsFilesAreRefusedWhenOthersCanReadThemOrTheyAreMalformed() throws {
        let directory = try TemporaryDirectory("credentials")
        let path = directory.sub("c.json")
        let cases: [(String, mode_t, String)] = [
            (#"{"security_pwd": "s"}"#, 0o644, "can be read by others"),
            (#"{"security_pwd": ""}"#, 0o600, "non-empty string 'security_pwd'"),
            (#"{"security_pwd": "s", "extra": 1}"#, 0o600, "unknown field 'extra'"),
            (#"{"security_pwd": "s", "password": 7}"#, 0o600, "'password' must be a string"),
            ("not json", 0o600, "not a JSON object"),
        ]
        for (text, mode, expected) in cases {
            try FileTree.writeAtomically(Data(text.utf8), to: path, mode: mode)
            #expect(throws: BackupError.self, "\(text)") { try ScheduleCredentials.load(path) }
            do { _ = try ScheduleCredentials.load(path) } catch let error as BackupError {
                #expect(error.message.contains(expected), "\(error.message)")
                #expect(!error.message.contains("\"s\""), "no value in the message")
            }
        }
        #expect(throws: BackupError.self) { try ScheduleCredentials.load(directory.sub("missing.json")) }
        try FileTree.writeAtomically(Data(#"{"security_pwd": "s", "password": "p"}"#.utf8), to: path, mode: 0o600)
        let loaded = try ScheduleCredentials.load(path)
        #expect(loaded.securityPassword.revealed == "s" && loaded.password?.revealed == "p")
        // Another owner (nobody): refused, as ssh refuses a key someone else could have written.
        _ = try shell("chown nobody \(path)")
        #expect(throws: BackupError.self) { try ScheduleCredentials.load(path) }
    }
}

/// Schedules that prove backups rather than make them: a verification of the newest and older
/// backups drawn at random, and a restore drill.
@Suite("Scheduled verifications and drills")
struct ScheduledProofTests {
    @Test func verifyAndDrillSchedulesRunRecordTheirProofsAndReportADamagedBackup() async throws {
        let fixture = try Fixture("schedule-proofs")
        for _ in 0..<3 { #expect(try await fixture.backup().status == .completed) }
        let credentials = try fixture.directory.write("proofs.credentials", #"{"security_pwd": "\#(fixture.password.revealed)"}"#, mode: 0o600)
        let destination = ScheduleConfiguration.Destination(hostname: "localhost", path: fixture.backups)
        var verify = ScheduleConfiguration(name: "verify", cron: "0 3 * * *", destination: destination, credentialsFile: credentials)
        verify.job = .verify
        verify.verify = .init(older: 1)
        var drill = ScheduleConfiguration(name: "drill", cron: "0 4 * * 0", destination: destination, credentialsFile: credentials)
        drill.job = .drill
        var configuration = APIConfiguration()
        configuration.stateDirectory = fixture.state
        configuration.schedules = [verify, drill]
        try ScheduleConfiguration.validate(configuration.schedules)
        let logger = RecordingLogHandler.logger(fixture.logLines)
        let supervisor = JobSupervisor(logger: logger)
        let (runtime, settings) = (fixture.runtime, configuration)
        func run(_ schedule: ScheduleConfiguration) async -> ScheduledRunOutcome {
            await ScheduleService.run(schedule, catchUp: false, configuration: settings, runtime: runtime, supervisor: supervisor, logger: logger)
        }
        let backups = try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.sorted()
        #expect(backups.count == 3)

        // The newest and one older backup, each decrypted: a proof for monitoring.
        let verified = await run(verify)
        guard case .completed(let message) = verified else { Issue.record("\(verified)"); return }
        #expect(message.hasPrefix("verified \(backups[2]), "), "\(message)")
        #expect(message.split(separator: ",").count == 2)
        let afterVerify = try fixture.runtime.status.statistics().proofs
        #expect(afterVerify.lastVerified != nil && afterVerify.lastVerified == afterVerify.lastVerifyAttempt)

        // A drill of the newest passes; a drill on a damaged newest backup fails and names the component.
        #expect(await run(drill) == .completed("drill of \(backups[2]) passed"))
        #expect(try fixture.runtime.status.statistics().proofs.lastDrillSuccess != nil)
        let file = fixture.backups + "/" + backups[2] + "/ntp.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data[data.count / 2] ^= 0x10
        try FileTree.remove(file)
        try FileTree.writeAtomically(data, to: file)
        let failed = await run(drill)
        guard case .failed(let why) = failed else { Issue.record("\(failed)"); return }
        #expect(why.contains("drill of \(backups[2]) failed") && why.contains("ntp:") && why.contains("SHA-256"), "\(why)")
        let proofs = try fixture.runtime.status.statistics().proofs
        #expect(proofs.lastDrillAttempt ?? 0 >= proofs.lastDrillSuccess ?? 0)

        // A verification without reading data still finds it (checksums against the authenticated
        // index), and does not count as a proof.
        verify.verify = .init(older: 0, readData: false)
        let checked = await run(verify)
        guard case .failed(let damage) = checked else { Issue.record("\(checked)"); return }
        #expect(damage.contains(backups[2]) && damage.contains("ntp") && damage.contains("SHA-256"), "\(damage)")
        #expect(try fixture.runtime.status.statistics().proofs.lastVerified == afterVerify.lastVerified)

        // While another job holds the lock, a drill is skipped, not run beside it.
        let lock = try JobLock.acquire(stateDirectory: fixture.state, description: "restore from somewhere")
        let busy = await run(drill)
        lock.release()
        guard case .busy = busy else { Issue.record("\(busy)"); return }
    }

    @Test func proofSchedulesAreCheckedAtLoad() throws {
        let destination = ScheduleConfiguration.Destination(hostname: "localhost", path: "/b")
        var drill = ScheduleConfiguration(name: "drill", cron: "0 4 * * 0", destination: destination, credentialsFile: "/c", retention: RetentionPolicy(keepLast: 1))
        drill.job = .drill
        #expect(throws: BackupError.self) { try drill.validate() }
        drill.retention = nil
        drill.verify = .init(older: 1)
        #expect(throws: BackupError.self) { try drill.validate() }
        var verify = ScheduleConfiguration(name: "verify", cron: "0 4 * * 0", destination: destination, credentialsFile: "/c")
        verify.job = .verify
        verify.verify = .init(older: 101)
        #expect(throws: BackupError.self) { try verify.validate() }
        let unknown = #"{"name": "x", "cron": "0 4 * * 0", "destination": {"hostname": "localhost"}, "credentialsFile": "/c", "job": "restore"}"#
        #expect { try JSONDecoder().decode(ScheduleConfiguration.self, from: Data(unknown.utf8)) } throws: { error in
            (error as? BackupError)?.message.contains("job 'restore' is not one of backup, verify, drill") == true
        }
        // The draw: the newest first, then distinct older ones, never more than there are.
        var random = SystemRandomNumberGenerator()
        let names = ["a", "b", "c", "d"]
        for _ in 0..<20 {
            let chosen = ScheduledVerification.choose(names, older: 2, using: &random)
            #expect(chosen.first == "d" && chosen.count == 3 && Set(chosen).count == 3)
        }
        #expect(ScheduledVerification.choose(names, older: 10, using: &random) == ["d", "c", "b", "a"])
        #expect(ScheduledVerification.choose([], older: 1, using: &random).isEmpty)
    }
}
