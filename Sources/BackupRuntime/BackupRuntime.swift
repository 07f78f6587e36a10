public import BackupCore
public import BackupModel
import BackupPOSIX
import BackupProcess
import BackupArchive
import BackupCertificates
import BackupCompression
import BackupCrypto
import BackupSFTP
import Foundation
public import Logging

/// The parts a command or the API needs, wired together: plugins, cipher, archive format, stores,
/// status. The one place that knows which concrete implementation serves each core protocol.
public struct BackupRuntime: Sendable {
    /// Settings common to every entry point.
    public struct Settings: Sendable {
        public var stateDirectory: String
        public var applianceRoot: String
        public var pluginDirectories: [String]
        public var resources: ShippedResources
        /// The most a whole job may take before it is stopped (and a restore rolled back).
        public var jobDeadlineSeconds: Double
        /// The most one file transfer to or from a remote store may take.
        public var transferDeadlineSeconds: Double
        /// The zstd level backups compress with (1-19), or nil to leave compression to gpg (format 1's
        /// way: slower, one core).
        public var compressionLevel: Int32?
        /// True (the default) to run every external plugin step in the sandbox (docs/plugins.md);
        /// false is `--no-sandbox`.
        public var sandboxPluginSteps: Bool
        /// Public keys every backup is also encrypted to (`--recipient-key`, recovery keys).
        public var recipientKeys: [GPGRecipientKey] = []
        /// A secret key that opens backups instead of the security password (`--recovery-key`).
        public var recoveryKey: GPGRecoveryKey?

        public init(stateDirectory: String, applianceRoot: String, pluginDirectories: [String] = [], resources: ShippedResources = .locate(), jobDeadlineSeconds: Double = 6 * 3600, transferDeadlineSeconds: Double = 3600, compressionLevel: Int32? = BackupRuntime.defaultCompressionLevel, sandboxPluginSteps: Bool = true) {
            self.stateDirectory = stateDirectory
            self.applianceRoot = applianceRoot
            self.pluginDirectories = pluginDirectories
            self.resources = resources
            self.jobDeadlineSeconds = jobDeadlineSeconds
            self.transferDeadlineSeconds = transferDeadlineSeconds
            self.compressionLevel = compressionLevel
            self.sandboxPluginSteps = sandboxPluginSteps
        }
    }

    /// The state directory used when none is given.
    public static let defaultStateDirectory = "/var/lib/gwbackup"
    /// The local backup directory of the API (`hostname: "localhost"`).
    public static let defaultBackupDirectory = StorageDefaults.standard.backupDirectory
    /// zstd level 3: measured on a mixed 95 MiB archive (64 MiB random, 31 MiB config text), 2 cores:
    /// 0.25 s against 0.20 s at level 1 and 0.63 s at 6, 0.6% smaller than level 1; gzip -6 (gpg's
    /// own compression) took 3.5 s. See docs/performance.md.
    public static let defaultCompressionLevel: Int32 = 3

    /// What restore and verify can decompress.
    public static let decompressors: [String: any PayloadCompression] = ["zstd": ZstdCompression()]

    /// The user name reported for local backups.
    public static let defaultUser = StorageDefaults.standard.user

    /// The plugins compiled into the binary, in one list.
    public static let builtInPlugins: [any ComponentPlugin] = [FileSetPlugin(), CertificatesPlugin()]

    public let settings: Settings
    public let registry: PluginRegistry
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        let directories = [settings.resources.pluginDirectory].compactMap { $0 } + settings.pluginDirectories
        // Compiled shipped plugins (the C ntp plugin) are built beside this binary.
        var programs: [String: String] = [:]
        if let shipped = settings.resources.pluginDirectory, let executable = try? FileTree.readLink("/proc/self/exe") {
            programs[shipped] = (executable as NSString).deletingLastPathComponent
        }
        self.registry = PluginRegistry(builtIns: Self.builtInPlugins, directories: directories, programDirectories: programs, launcher: ChildProcessLauncher(sandboxes: settings.sandboxPluginSteps))
    }

    /// The status store in the state directory.
    public var status: StatusStore { StatusStore(directory: self.settings.stateDirectory) }

    /// This runtime encrypting every backup also to the public keys in `files` (recovery keys),
    /// each loaded and checked (`GPGRecipientKey.load`).
    public func with(recipientKeyFiles files: [String]) throws -> BackupRuntime {
        var settings = self.settings
        settings.recipientKeys = try files.map { try GPGRecipientKey.load($0) }
        return BackupRuntime(settings: settings, logger: self.logger)
    }

    /// This runtime reading backups with the secret recovery key in `file` instead of the security
    /// password (`GPGRecoveryKey`).
    public func with(recoveryKeyFile file: String) throws -> BackupRuntime {
        var settings = self.settings
        settings.recoveryKey = try GPGRecoveryKey.load(file)
        return BackupRuntime(settings: settings, logger: self.logger)
    }

    /// An orchestrator that reports progress to `onProgress`.
    public func orchestrator(onProgress: @escaping @Sendable (JobProgress) -> Void = { _ in }) -> Orchestrator {
        let level = self.settings.compressionLevel
        // zstd before gpg, on every core, and gpg's own (single-threaded zlib) compression off.
        var orchestrator = Orchestrator(
            registry: self.registry, cipher: GPGSymmetricCipher(compress: level == nil, recipients: self.settings.recipientKeys, recoveryKey: self.settings.recoveryKey), archive: TarArchive(), status: self.status,
            applianceRoot: self.settings.applianceRoot, logger: self.logger, onProgress: onProgress)
        orchestrator.compression = level.map { ZstdCompression(level: $0, workers: Int32(max(1, ProcessInfo.processInfo.activeProcessorCount))) }
        orchestrator.decompressors = Self.decompressors
        orchestrator.jobDeadlineSeconds = self.settings.jobDeadlineSeconds
        return orchestrator
    }

    /// A pruner for `store` that authenticates with `passphrase` (retention acts only on what it opens).
    public func pruner(store: any BackupStore, policy: RetentionPolicy, passphrase: Secret, logger: Logger? = nil) -> Pruner {
        var pruner = Pruner(store: store, policy: policy, status: self.status, cipher: GPGSymmetricCipher(recoveryKey: self.settings.recoveryKey), passphrase: passphrase, logger: logger ?? self.logger)
        pruner.deadlineSeconds = self.settings.jobDeadlineSeconds
        return pruner
    }

    /// The authenticated catalog of `store` (see `AuthenticatedCatalog`), read within the job deadline.
    /// Blocking.
    public func catalog(store: any BackupStore, passphrase: Secret) throws -> AuthenticatedCatalog {
        let cipher = GPGSymmetricCipher(recoveryKey: self.settings.recoveryKey)
        defer { cipher.releaseResources() }
        return try store.withinDeadline(self.settings.jobDeadlineSeconds) {
            try AuthenticatedCatalog.open(store: store, cipher: cipher, passphrase: passphrase, stateDirectory: self.settings.stateDirectory)
        }
    }

    /// A verifier for `store`, stopped at the job deadline.
    public func verifier(store: any BackupStore) -> BackupVerifier {
        var verifier = BackupVerifier(store: store, cipher: GPGSymmetricCipher(recoveryKey: self.settings.recoveryKey), archive: TarArchive(), decompressors: Self.decompressors)
        verifier.deadlineSeconds = self.settings.jobDeadlineSeconds
        verifier.stateDirectory = self.settings.stateDirectory
        return verifier
    }

    /// The manifest at `path`, or the default one.
    public func manifest(path: String?) throws -> Manifest {
        if let path {
            // A manifest names commands (reload_command) that run as root: only one nobody else can change.
            try TrustedPath.check(path, what: "manifest")
            return try Manifest.load(path: path)
        }
        return try self.settings.resources.defaultManifest().0
    }

    /// The store for `target`: local storage for `localhost`, SFTP for any other host (host keys are
    /// pinned in `STATE/known_hosts.json`).
    public func store(for target: StorageTarget, credentials: RemoteCredentials = RemoteCredentials()) throws -> any BackupStore {
        if target.isLocal {
            let path = target.path.isEmpty ? Self.defaultBackupDirectory : target.path
            guard path.hasPrefix("/") else {
                throw BackupError(.invalidInput, "a local backup path must be absolute, got '\(path)'")
            }
            return LocalBackupStore(path: path)
        }
        guard !target.username.isEmpty else {
            throw BackupError(.invalidInput, "a user name is required for remote storage on \(target.host)")
        }
        let authentication: SSHEndpoint.Authentication
        if let identity = credentials.identityFile {
            authentication = .publicKey(file: identity, passphrase: credentials.password)
        } else if let password = credentials.password, !password.isEmpty {
            authentication = .password(password)
        } else {
            throw BackupError(.invalidInput, "a password (or an identity file) is required for remote storage on \(target.host)")
        }
        var endpoint = SSHEndpoint(
            host: target.host, port: target.port ?? 22, username: target.username, authentication: authentication,
            hostKeyPolicy: try HostKeyPolicy(parsing: credentials.hostKeyPolicy),
            knownHosts: KnownHosts(path: self.settings.stateDirectory + "/known_hosts.json"))
        endpoint.transferDeadlineSeconds = self.settings.transferDeadlineSeconds
        return SFTPBackupStore(endpoint: endpoint, path: target.path)
    }
}
