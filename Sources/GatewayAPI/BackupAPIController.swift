import BackupCore
import BackupModel
import BackupPOSIX
import BackupMetrics
import BackupRuntime
import Foundation
import GatewayWire
import Hummingbird
import Logging

/// The four endpoints of the Backup/Restore API v1.0 and the two common ones.
struct BackupAPIController: Sendable {
    let runtime: BackupRuntime
    let configuration: APIConfiguration
    let authenticator: BasicAuthenticator
    /// The connection slots: a connection whose request authenticated keeps its slot.
    let slots: ConnectionSlots
    let supervisor: JobSupervisor
    /// The status GETs' answers while nothing they are made of changes.
    let statusAnswers: StatusResponseCache

    /// The request's user, or throws; an authenticated connection keeps its slot when slots run short.
    private func authenticate(_ request: Request, _ context: APIRequestContext) async throws -> String {
        let user = try await self.authenticator.authenticate(request, address: context.remoteAddress, logger: context.logger)
        self.slots.markAuthenticated(context.channel)
        return user
    }

    func addRoutes(to router: Router<APIRequestContext>) {
        router.get("/api/common/1.0/services") { _, _ in
            try Self.encoded(WireService.offered)
        }
        router.get("/api/common/1.0/auth_info") { _, _ in
            try Self.encoded(WireAuthInfo.basic)
        }
        let api = router.group("/api/mgmt.gateway_backup/1.0")
        api.get("backup") { request, context in
            _ = try await self.authenticate(request, context)
            return Self.json(try await self.statusAnswers.answer("backup") { try self.backupStatus() })
        }
        api.get("restore") { request, context in
            _ = try await self.authenticate(request, context)
            return Self.json(try await self.statusAnswers.answer("restore") {
                try self.runtime.status.recoverInterrupted()
                let record = try self.runtime.status.restoreStatus()
                return (try Self.encodedBody(WireJobRecord(record)), record.status == .executing)
            })
        }
        // Prometheus scrapes with basic auth, as any client of the API.
        router.get("/metrics") { request, context in
            _ = try await self.authenticate(request, context)
            let text = try MetricsExposition.load(from: self.runtime.status, schedules: try self.scheduleViews()).render()
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        api.post("backup") { request, context in
            try await self.start(request, context: context, kind: .backup)
        }
        api.post("restore") { request, context in
            try await self.start(request, context: context, kind: .restore)
        }
        // Extensions: a restore's preview, which changes nothing, and a password rotation.
        api.post("restore/preview") { request, context in
            try await self.start(request, context: context, kind: .preview)
        }
        api.get("restore/preview") { request, context in
            _ = try await self.authenticate(request, context)
            try self.runtime.status.recoverInterrupted()
            return try Self.encoded(WireJobRecord(try self.runtime.status.previewStatus()))
        }
        api.post("rekey") { request, context in
            try await self.startRekey(request, context: context)
        }
        api.get("rekey") { request, context in
            _ = try await self.authenticate(request, context)
            try self.runtime.status.recoverInterrupted()
            return try Self.encoded(try self.runtime.status.rekeyStatus())
        }
    }

    /// The jobs a POST with a job request starts.
    enum StartedJob: String {
        case backup, restore, preview
    }

    /// `[{"last_successful": {…} or {}, "running": {…}, "schedules": […]}]`, and whether it reports
    /// a backup as running.
    func backupStatus() throws -> (body: ByteBuffer, reportsRunningJob: Bool) {
        try self.runtime.status.recoverInterrupted()
        let status = try self.runtime.status.backupStatus()
        var schedules: [WireSchedule]?
        if !self.configuration.schedules.isEmpty {
            schedules = WireSchedule.views(self.configuration.schedules, state: try ScheduleState.load(from: self.configuration.stateDirectory))
        }
        return (try Self.encodedBody([WireBackupStatus(status, schedules: schedules)]), status.running.status == .executing)
    }

    /// The configured schedules with their next run and last skipped run.
    func scheduleViews(now: Date = Date()) throws -> [MetricsExposition.ScheduleView] {
        guard !self.configuration.schedules.isEmpty else { return [] }
        return MetricsExposition.ScheduleView.views(self.configuration.schedules, state: try ScheduleState.load(from: self.configuration.stateDirectory), now: now)
    }

    /// The authenticated user and the body of a job's POST: JSON only (a form another web page
    /// makes a browser send, text/plain or urlencoded, starts nothing), bounded in size and time.
    private func jobBody(_ request: Request, context: APIRequestContext) async throws -> (user: String, body: Data) {
        let user = try await self.authenticate(request, context)
        let contentType = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard contentType == "application/json" else {
            throw APIError.badRequest("the request body must be sent as Content-Type: application/json")
        }
        let buffer = try await Self.collectBody(of: request, upTo: self.configuration.maxBodyBytes, within: .seconds(self.configuration.requestBodyTimeoutSeconds))
        return (user, Data(buffer.readableBytesView))
    }

    /// Where a job request points, once the user's role allows it there (read per request:
    /// `gwbackup user role` takes effect at once). `adminOnly`: jobs only an admin may start.
    private func authorizedTarget(_ body: WireJobRequest, user: String, job: String, adminOnly: Bool = false) throws -> StorageTarget {
        if StorageTarget.isLocalHost(body.hostname), let path = body.path, !path.isEmpty, !self.configuration.allowsLocalPath(path) {
            throw APIError.badRequest("field 'path' must lie in \(self.configuration.allowedLocalDirectories.joined(separator: " or ")) (the server's localBackupDirectories)")
        }
        let target = self.configuration.storageDefaults.target(host: body.hostname, username: body.username, path: body.path, port: body.port)
        let named = SafeText.escaped(user, limit: 64)
        switch try self.authenticator.users.role(of: user) ?? .viewer {
        case .viewer:
            throw APIError.forbidden("user '\(named)' has the role viewer: it may read the status and the metrics, not start jobs")
        case .operator where adminOnly:
            throw APIError.forbidden("user '\(named)' has the role operator: only an admin may start a \(job)")
        case .operator where !self.configuration.allowsOperator(target):
            throw APIError.forbidden("user '\(named)' has the role operator: \(target.isLocal ? "local" : "host \(SafeText.escaped(target.host, limit: 100))") path \(SafeText.escaped(target.path, limit: 200)) is not among the server's operatorDestinations")
        case .operator, .admin:
            return target
        }
    }

    /// Validates a POST, takes the job lock, starts the job in the background, answers 204.
    func start(_ request: Request, context: APIRequestContext, kind: StartedJob) async throws -> Response {
        let (user, data) = try await self.jobBody(request, context: context)
        let body: WireJobRequest
        do {
            body = try WireJobRequest.parse(data)
        } catch let error as WireRequestError {
            throw APIError.badRequest(error.message)
        }
        if kind == .backup, body.backup != nil || body.components != nil || body.appliance != nil {
            throw APIError.badRequest("fields 'backup', 'components' and 'appliance' choose what a restore takes; a backup has no use for them")
        }
        let target = try self.authorizedTarget(body, user: user, job: kind.rawValue)
        var logger = context.logger
        logger[metadataKey: "api_user"] = "\(user)"
        logger[metadataKey: "job"] = "\(kind.rawValue)"
        do {
            let (store, orchestrator) = try self.jobStore(target, sshPassword: body.password, logger: logger)
            let jobID: String
            let manifest = try self.runtime.manifest(path: self.configuration.manifest)
            switch kind {
            case .restore, .preview:
                // Never an unauthenticated backup through the API: its store may be anyone's.
                let job = try await orchestrator.beginRestore(RestoreRequest(
                    target: target, store: store, manifest: manifest, securityPassword: body.securityPassword, noCert: body.noCert ?? false,
                    components: body.components ?? [], dryRun: kind == .preview, backup: body.backup, appliance: body.appliance, runID: body.runID, jobs: self.configuration.jobs))
                jobID = job.id
                self.supervisor.launch(cancellation: job.cancellation) { await job.run() }
            case .backup:
                let job = try await orchestrator.beginBackup(BackupRequest(target: target, store: store, manifest: manifest, securityPassword: body.securityPassword, runID: body.runID, jobs: self.configuration.jobs))
                jobID = job.id
                self.supervisor.launch(cancellation: job.cancellation) { await job.run() }
            }
            self.logStarted(logger, jobID: jobID, target: target, runID: body.runID)
        } catch let error as BackupError {
            throw self.refused(error, logger: logger)
        }
        return Response(status: .noContent)
    }

    /// `POST …/rekey`: an admin's password rotation, run in the background like any job; its record
    /// is `GET …/rekey`'s.
    func startRekey(_ request: Request, context: APIRequestContext) async throws -> Response {
        let (user, data) = try await self.jobBody(request, context: context)
        let body: WireRekeyRequest
        do {
            body = try WireRekeyRequest.parse(data)
        } catch let error as WireRequestError {
            throw APIError.badRequest(error.message)
        }
        let target = try self.authorizedTarget(body.job, user: user, job: "rekey", adminOnly: true)
        var logger = context.logger
        logger[metadataKey: "api_user"] = "\(user)"
        logger[metadataKey: "job"] = "rekey"
        do {
            let (store, orchestrator) = try self.jobStore(target, sshPassword: body.job.password, logger: logger)
            let job = try await BackupRekey(
                orchestrator: orchestrator, store: store, oldPassphrase: body.job.securityPassword,
                newPassphrase: body.newSecurityPassword, backups: body.backups, dropRecoveryKeys: body.dropRecoveryKeys
            ).begin(runID: body.job.runID)
            // Niced like every job; the record, not the value, is what a client reads.
            let niceness = self.configuration.jobNiceness
            self.supervisor.launch(cancellation: job.cancellation) {
                defer { store.close() }
                _ = try? await Blocking.$niceness.withValue(niceness) { try await job.run() }
                return JobRecord.none
            }
            self.logStarted(logger, jobID: job.id, target: target, runID: body.job.runID)
        } catch let error as BackupError {
            throw self.refused(error, logger: logger)
        }
        return Response(status: .noContent)
    }

    /// The store a job request points at, and an orchestrator for the job: it logs with this
    /// request's id, user and job kind (so its lines lead back to the request), at the jobs' niceness.
    private func jobStore(_ target: StorageTarget, sshPassword: Secret?, logger: Logger) throws -> (any BackupStore, Orchestrator) {
        let store = try self.runtime.store(for: target, credentials: RemoteCredentials(password: sshPassword, hostKeyPolicy: self.configuration.hostKeyPolicy))
        var orchestrator = self.runtime.orchestrator()
        orchestrator.logger = logger
        orchestrator.jobNiceness = self.configuration.jobNiceness
        return (store, orchestrator)
    }

    /// The request's words in the log: escaped and quoted, so a host or path cannot forge another field.
    private func logStarted(_ logger: Logger, jobID: String, target: StorageTarget, runID: String?) {
        logger.info("job started", metadata: ["job_id": "\(jobID)", "host": "\(SafeText.field(target.host))", "user": "\(SafeText.field(target.username))", "path": "\(SafeText.field(target.path))", "run_id": "\(SafeText.field(runID ?? ""))"])
    }

    /// A job that could not start, logged once and answered 400 (busy: "a job is already running").
    private func refused(_ error: BackupError, logger: Logger) -> APIError {
        logger.notice("job refused", metadata: ["reason": "\(SafeText.field(error.description, limit: 1000))"])
        return error.code == .busy ? APIError.jobRunning("a job is already running: \(error.message)") : APIError.badRequest(error.description)
    }

    /// The whole body, at most `limit` bytes, within `time`: a body that trickles in (one byte every
    /// few seconds) would otherwise hold the connection and its slot for as long as its sender likes.
    static func collectBody(of request: Request, upTo limit: Int, within time: Duration) async throws -> ByteBuffer {
        let body = request.body
        let collected = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask {
                do {
                    return try await body.collect(upTo: limit)
                } catch is CancellationError {
                    return nil
                } catch {
                    throw APIError.badRequest("the request body is larger than \(limit) bytes")
                }
            }
            group.addTask {
                try? await Task.sleep(for: time)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let collected else {
            throw APIError.badRequest("the request body did not arrive within \(time.components.seconds) s")
        }
        return collected
    }

    static func encoded(_ value: some Encodable) throws -> Response {
        Self.json(try Self.encodedBody(value))
    }

    static func encodedBody(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONCoding.encoder().encode(value))
    }

    /// A 200 answer with a JSON body.
    static func json(_ body: ByteBuffer) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}
