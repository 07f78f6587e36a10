import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation
import Logging
import ServiceLifecycle

/// The server's schedules: a service of the application that runs `ScheduleDriver` until the
/// graceful shutdown. A scheduled backup runs as an API job does (same lock, same supervisor, so a
/// shutdown stops it cleanly); after a successful one the schedule's retention policy prunes its
/// destination.
final class ScheduleService: Service, Sendable {
    let driver: ScheduleDriver

    init(configuration: APIConfiguration, runtime: BackupRuntime, supervisor: JobSupervisor, logger: Logger, clock: any ScheduleClock = SystemScheduleClock()) throws {
        // Credentials files are checked now: a typo is a start-up error, not a failed run at night.
        for schedule in configuration.schedules {
            do { _ = try ScheduleCredentials.load(schedule.credentialsFile) } catch let error as BackupError {
                throw BackupError(.invalidInput, "schedule '\(schedule.name)': \(error.message)")
            }
        }
        self.driver = try ScheduleDriver(schedules: configuration.schedules, stateDirectory: configuration.stateDirectory, clock: clock, logger: logger) { schedule, catchUp in
            await Self.run(schedule, catchUp: catchUp, configuration: configuration, runtime: runtime, supervisor: supervisor, logger: logger)
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown { await self.driver.run() }
        // Without schedules the driver returns at once; a service that ends would end the server.
        try? await gracefulShutdown()
    }

    /// One scheduled run, whatever its job.
    static func run(_ schedule: ScheduleConfiguration, catchUp: Bool, configuration: APIConfiguration, runtime: BackupRuntime, supervisor: JobSupervisor, logger: Logger) async -> ScheduledRunOutcome {
        switch schedule.runs {
        case .backup: await Self.runBackup(schedule, catchUp: catchUp, configuration: configuration, runtime: runtime, supervisor: supervisor, logger: logger)
        case .verify, .drill: await Self.runProof(schedule, configuration: configuration, runtime: runtime, logger: logger)
        }
    }

    /// One scheduled backup, then its retention.
    static func runBackup(_ schedule: ScheduleConfiguration, catchUp: Bool, configuration: APIConfiguration, runtime: BackupRuntime, supervisor: JobSupervisor, logger: Logger) async -> ScheduledRunOutcome {
        var logger = logger
        logger[metadataKey: "schedule"] = "\(schedule.name)"
        let store: any BackupStore
        let request: BackupRequest
        let securityPassword: Secret
        do {
            let credentials = try ScheduleCredentials.load(schedule.credentialsFile)
            let target = configuration.storageDefaults.target(
                host: schedule.destination.hostname, username: schedule.destination.username, path: schedule.destination.path, port: schedule.destination.port)
            store = try runtime.store(for: target, credentials: RemoteCredentials(password: credentials.password, hostKeyPolicy: configuration.hostKeyPolicy))
            let manifest = try runtime.manifest(path: configuration.manifest)
            request = BackupRequest(target: target, store: store, manifest: manifest, securityPassword: credentials.securityPassword, runID: "schedule:\(schedule.name)", jobs: configuration.jobs)
            securityPassword = credentials.securityPassword
        } catch {
            return .failed("cannot start: \(error)")
        }
        defer { store.close() }
        var orchestrator = runtime.orchestrator()
        orchestrator.logger = logger
        orchestrator.jobNiceness = configuration.jobNiceness
        let job: BackupJob
        do {
            job = try await orchestrator.beginBackup(request)
        } catch let error as BackupError where error.code == .busy {
            return .busy("another job was running (\(error.message))")
        } catch {
            return .failed("cannot start: \(error)")
        }
        let record = await supervisor.runToEnd(cancellation: job.cancellation) { await job.run() }
        let final = record.status == .none ? ((try? runtime.status.backupStatus().running) ?? record) : record
        guard final.status == .completed else { return .failed(final.message.isEmpty ? "the backup failed" : final.message) }
        guard let policy = schedule.retention else { return .completed(final.backup ?? "") }
        // Retention acts only on what the security password authenticates, and never on the backup just made.
        var protectedPruner = runtime.pruner(store: store, policy: policy, passphrase: securityPassword, logger: logger)
        if let made = final.backup { protectedPruner.protected = [made] }
        let pruner = protectedPruner
        do {
            let report = try await Blocking.run { try pruner.run(dryRun: false) }
            let deleted = report.decisions.filter { !$0.keep }.map(\.name)
            logger.info("retention applied", metadata: ["kept": "\(report.decisions.count - deleted.count)", "deleted": "\(deleted.joined(separator: ","))"])
            return .completed("\(final.backup ?? ""); retention kept \(report.decisions.count - deleted.count), deleted \(deleted.count)")
        } catch {
            // The backup is made; the retention will be tried again after the next one.
            logger.error("retention failed", metadata: ["error": "\(error)"])
            return .completed("\(final.backup ?? ""); retention failed: \(error)")
        }
    }

    /// A scheduled verification or drill. Neither changes the appliance nor the backups; a drill holds
    /// the job lock (it runs plugins), a verification does not. Both stop when the server shuts down
    /// (the driver's task is cancelled): between components, and a plugin step is killed.
    static func runProof(_ schedule: ScheduleConfiguration, configuration: APIConfiguration, runtime: BackupRuntime, logger: Logger) async -> ScheduledRunOutcome {
        var logger = logger
        logger[metadataKey: "schedule"] = "\(schedule.name)"
        let store: any BackupStore
        let credentials: ScheduleCredentials
        do {
            credentials = try ScheduleCredentials.load(schedule.credentialsFile)
            let target = configuration.storageDefaults.target(
                host: schedule.destination.hostname, username: schedule.destination.username, path: schedule.destination.path, port: schedule.destination.port)
            store = try runtime.store(for: target, credentials: RemoteCredentials(password: credentials.password, hostKeyPolicy: configuration.hostKeyPolicy))
        } catch {
            return .failed("cannot start: \(error)")
        }
        defer { store.close() }
        let cancellation = JobCancellation()
        do {
            return try await withTaskCancellationHandler {
                if schedule.runs == .drill {
                    var orchestrator = runtime.orchestrator()
                    orchestrator.logger = logger
                    orchestrator.jobNiceness = configuration.jobNiceness
                    orchestrator.cancellation = cancellation
                    let drill = RestoreDrill(orchestrator: orchestrator, store: store, passphrase: credentials.securityPassword, manifest: try runtime.manifest(path: configuration.manifest))
                    let report = try await drill.run()
                    let failed = report.components.filter { $0.status == .failed }.map { "\($0.name): \($0.message)" }
                    logger.info("drill finished", metadata: ["backup": "\(SafeText.escaped(report.backup))", "ok": "\(report.ok)"])
                    return report.ok ? .completed("drill of \(report.backup) passed") : .failed("drill of \(report.backup) failed: \(failed.joined(separator: "; "))")
                }
                var verifier = runtime.verifier(store: store)
                verifier.cancellation = cancellation
                verifier.readData = schedule.verify?.readData ?? true
                verifier.jobs = configuration.jobs
                let verification = ScheduledVerification(verifier: verifier, passphrase: credentials.securityPassword, older: schedule.verify?.older ?? 0)
                let reports = try await verification.run(using: SystemRandomNumberGenerator())
                let failed = reports.filter { !$0.ok }.map { report in
                    "\(report.backup) (\(report.components.filter { $0.status == .failed }.map { "\($0.name): \($0.message)" }.joined(separator: "; ")))"
                }
                logger.info("verification finished", metadata: ["backups": "\(reports.map(\.backup).joined(separator: ","))", "failed": "\(failed.count)"])
                return failed.isEmpty
                    ? .completed("verified \(reports.map(\.backup).joined(separator: ", "))")
                    : .failed("verification failed for \(failed.joined(separator: ", "))")
            } onCancel: {
                cancellation.cancel(reason: "the server is shutting down")
            }
        } catch let error as BackupError where error.code == .busy {
            return .busy("another job was running (\(error.message))")
        } catch {
            return .failed("\(schedule.runs.rawValue) failed: \(BackupError.wrap(error).message)")
        }
    }
}
