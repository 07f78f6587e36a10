import BackupCore
import BackupModel
import BackupPOSIX
import BackupCertificates
import BackupRuntime
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
public import Logging
import NIOSSL

/// The HTTPS server of the Backup/Restore API: `buildApplication` is shared by `gwbackup serve` and
/// the tests.
public enum GatewayServer {
    /// Builds the application: TLS (a configured certificate or a self-signed one kept in the state
    /// directory), the routes, authentication against the users file.
    public static func buildApplication(
        configuration: APIConfiguration, runtime: BackupRuntime, logger: Logger, scheduleClock: any ScheduleClock = SystemScheduleClock(),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        try self.buildApplication(
            configuration: configuration, runtime: runtime, logger: logger, scheduleClock: scheduleClock,
            countingFastAnswersIn: StatusFastPath.AnswerCount(), onServerRunning: onServerRunning)
    }

    /// The same, counting the status GETs answered on the event loop in `fastAnswers` (for tests).
    static func buildApplication(
        configuration: APIConfiguration, runtime: BackupRuntime, logger: Logger, scheduleClock: any ScheduleClock,
        countingFastAnswersIn fastAnswers: StatusFastPath.AnswerCount, onServerRunning: @escaping @Sendable (Int) async -> Void
    ) throws -> some ApplicationProtocol {
        try runtime.status.prepare()
        try Self.checkOwnership(of: configuration.stateDirectory, what: "state directory")
        if try FileStatus.of(configuration.resolvedUsersFile) != nil {
            // The rule every load of it applies too (`UserStore`): a bad users file is a start-up error.
            try TrustedPath.check(configuration.resolvedUsersFile, what: "users file")
        }
        // What the server will run with is checked now, by the rule for files that can make it run code
        // (`TrustedPath`): a manifest or plugin directory someone else can change is a start-up error.
        if let manifest = configuration.manifest { _ = try runtime.manifest(path: manifest) }
        for directory in configuration.pluginDirectories where try FileStatus.of(directory) != nil {
            try TrustedPath.check(directory, what: "plugin directory")
        }
        // Users made before roles keep every right; said once, at start-up.
        // Read whole now: a users file that does not parse (a role no one knows) is a start-up error,
        // not a failure of every later login.
        for user in try UserStore(path: configuration.resolvedUsersFile).roles() where !user.set {
            // The name as the users file says it (a hand-edited file may hold anything): escaped.
            logger.notice("a user has no role: admin, as users made before roles (any destination); give it one with gwbackup user role NAME --role viewer|operator|admin", metadata: ["user": "\(SafeText.field(user.name, limit: 64))"])
        }
        // A job left EXECUTING by a previous run of the server was interrupted.
        try runtime.status.recoverInterrupted()
        let tls = try self.tlsConfiguration(configuration)
        let router = Router(context: APIRequestContext.self)
        // A job that does not stop within the shutdown's grace is marked interrupted there and then
        // (the in-process server of the tests too, not only `gwbackup serve` as it exits).
        let status = runtime.status
        let supervisor = JobSupervisor(logger: logger, markAbandoned: { _ = try? status.recoverOwnInterruptedJob() })
        let authenticator = BasicAuthenticator(users: UserStore(path: configuration.resolvedUsersFile))
        let slots = ConnectionSlots(limits: .init(
            total: configuration.maxConnections, perAddress: configuration.maxConnectionsPerAddress, perNetwork: configuration.maxConnectionsPerNetwork))
        let schedules = try ScheduleService(configuration: configuration, runtime: runtime, supervisor: supervisor, logger: logger, clock: scheduleClock)
        let statusAnswers = StatusResponseCache(status: runtime.status, jobRunsHere: { supervisor.hasRunningJob })
        BackupAPIController(
            runtime: runtime, configuration: configuration,
            authenticator: authenticator, slots: slots,
            supervisor: supervisor, statusAnswers: statusAnswers
        ).addRoutes(to: router)
        let serverName = "gwbackup"
        let fastPath = StatusFastPath.Shared(authenticator: authenticator, statusAnswers: statusAnswers, slots: slots, logger: logger, serverName: serverName, answered: fastAnswers)
        let (host, port) = try configuration.address()
        let headTimeout = TimeAmount.seconds(Int64(configuration.requestHeadTimeoutSeconds))
        let refusals = RefusalLog(logger: logger)
        let http1 = HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuard(headTimeout: headTimeout, slots: slots, refusals: refusals, fastPath: fastPath)],
            idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))
        return Application(
            responder: APIResponder(router: router.buildResponder()),
            server: try .tls(.http1(configuration: http1), tlsConfiguration: tls),
            configuration: .init(address: .hostname(host, port: port), serverName: serverName),
            // Shut down after the HTTP server: no new job can start while the running one stops.
            // The schedules stop first (services stop in reverse order), then the running job; before
            // them, login attempts waiting for a check are answered, so no flood holds the stop up.
            services: [supervisor, schedules, ShutdownHook { await authenticator.shutDown() }],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Refuses a state directory or users file that another user owns or that others can write:
    /// whoever can write there can add API users, or forge the job state.
    static func checkOwnership(of path: String, what: String) throws {
        guard let status = try FileStatus.of(path) else { return }
        guard status.uid == geteuid() else {
            throw BackupError(.invalidInput, "the \(what) \(path) belongs to user \(status.uid), not to this server's user \(geteuid()); refusing to use it")
        }
        guard status.mode & 0o022 == 0 else {
            throw BackupError(.invalidInput, "the \(what) \(path) can be written by other users (mode \(String(status.mode, radix: 8))); refusing to use it: chmod go-w \(path)")
        }
    }

    /// The server's TLS configuration; makes and keeps a self-signed certificate when none is set.
    static func tlsConfiguration(_ configuration: APIConfiguration) throws -> TLSConfiguration {
        var certificatePath = configuration.certificate
        var keyPath = configuration.privateKey
        if certificatePath == nil || keyPath == nil {
            let directory = configuration.stateDirectory + "/tls"
            certificatePath = directory + "/server.crt"
            keyPath = directory + "/server.key"
            if try FileStatus.of(certificatePath ?? "") == nil {
                try FileTree.makeDirectories(directory, mode: 0o700)
                // Two servers starting together make one pair: generation under a lock, the key first
                // and the certificate (whose presence means "done") last.
                let lock = try JobLock.acquireBlocking(path: directory + "/generate.lock")
                defer { lock.release() }
                if try FileStatus.of(certificatePath ?? "") == nil {
                    let made = try SelfSignedCertificate.make(commonName: ProcessInfo.processInfo.hostName, dnsNames: ["localhost"])
                    try FileTree.writeAtomically(Data(made.privateKeyPEM.utf8), to: keyPath ?? "", mode: 0o600)
                    try FileTree.writeAtomically(Data(made.certificatePEM.utf8), to: certificatePath ?? "", mode: 0o644)
                }
            }
        }
        do {
            let certificates = try NIOSSLCertificate.fromPEMFile(certificatePath ?? "")
            let key = try NIOSSLPrivateKey(file: keyPath ?? "", format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            // TLS 1.2: forward-secret AEAD suites only (no CBC with SHA-1 MACs); 1.3's are all AEAD.
            tls.cipherSuites = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"].joined(separator: ":")
            return tls
        } catch {
            throw BackupError(.invalidInput, "cannot load the TLS certificate \(certificatePath ?? "") or key \(keyPath ?? ""): \(error)")
        }
    }
}
