import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation

/// `gwbackup serve` settings, from a JSON file (documented in `docs/api.md`) and flags.
public struct APIConfiguration: Codable, Sendable, Equatable {
    /// `HOST:PORT` to listen on.
    public var listen: String = "0.0.0.0:8443"
    /// PEM certificate and key; when absent, a self-signed pair is made on first start and kept in
    /// `STATE/tls/`.
    public var certificate: String?
    public var privateKey: String?
    public var stateDirectory: String = BackupRuntime.defaultStateDirectory
    /// Default: `STATE/users.json`.
    public var usersFile: String?
    /// Default: the shipped manifest.
    public var manifest: String?
    public var pluginDirectories: [String] = []
    public var applianceRoot: String = "/"
    public var backupDirectory: String = BackupRuntime.defaultBackupDirectory
    public var defaultUser: String = BackupRuntime.defaultUser
    public var hostKeyPolicy: String = "accept-new"
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes: Int = 64 << 10
    /// Directories a request may name as a local backup `path` (itself or below): default, the backup
    /// directory alone. Anything else is refused, so no user can have backups written to `/etc` or
    /// restore the appliance from a directory of their choosing.
    public var localBackupDirectories: [String]?
    /// Seconds a connection may stay idle (no byte received) before it is closed.
    public var idleTimeoutSeconds: Int = 30
    /// Seconds a connection has to send a complete request head, from its start or after an answer:
    /// a client that sends one byte a second is cut off.
    public var requestHeadTimeoutSeconds: Int = 10
    /// Seconds a request's body has to arrive whole, once its head has.
    public var requestBodyTimeoutSeconds: Int = 20
    /// Connections open at once. When all are taken, a new one takes the slot of the oldest that has
    /// not authenticated a request, or is closed as soon as it is accepted.
    public var maxConnections: Int = 256
    /// Connections open at once from one address; more are closed as soon as they are accepted.
    public var maxConnectionsPerAddress: Int = 32
    /// Connections open at once from one network (an IPv4 /24, an IPv6 /64).
    public var maxConnectionsPerNetwork: Int = 64
    /// The destinations users with the `operator` role may start jobs to (hostname, and optionally
    /// username, path (it and what lies under it) and port); admins may use any.
    public var operatorDestinations: [ScheduleConfiguration.Destination] = []
    /// Backups the server starts by itself (see `ScheduleConfiguration` and docs/api.md).
    public var schedules: [ScheduleConfiguration] = []
    /// Components a job works on at once (1-64); default one per core.
    public var jobs: Int?
    /// Nice value (0-19) of a job's work and of the processes it starts: the API and the appliance's
    /// services keep the CPU while a job runs. Default 10.
    public var jobNiceness: Int32 = Orchestrator.defaultJobNiceness
    /// OpenPGP public keys (files) every backup the server makes is also encrypted to: recovery keys
    /// (docs/keys.md). Checked at start-up: an expired, revoked or sign-only key stops it.
    public var recipientKeys: [String] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen, certificate, privateKey, stateDirectory, usersFile, manifest, pluginDirectories, applianceRoot
        case backupDirectory, defaultUser, hostKeyPolicy, maxBodyBytes
        case localBackupDirectories, idleTimeoutSeconds, requestHeadTimeoutSeconds, maxConnections, schedules
        case maxConnectionsPerAddress, maxConnectionsPerNetwork, requestBodyTimeoutSeconds
        case jobs, jobNiceness, operatorDestinations, recipientKeys
    }

    public init(from decoder: any Decoder) throws {
        let defaults = APIConfiguration()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.listen = try container.decodeIfPresent(String.self, forKey: .listen) ?? defaults.listen
        self.certificate = try container.decodeIfPresent(String.self, forKey: .certificate)
        self.privateKey = try container.decodeIfPresent(String.self, forKey: .privateKey)
        self.stateDirectory = try container.decodeIfPresent(String.self, forKey: .stateDirectory) ?? defaults.stateDirectory
        self.usersFile = try container.decodeIfPresent(String.self, forKey: .usersFile)
        self.manifest = try container.decodeIfPresent(String.self, forKey: .manifest)
        self.pluginDirectories = try container.decodeIfPresent([String].self, forKey: .pluginDirectories) ?? []
        self.applianceRoot = try container.decodeIfPresent(String.self, forKey: .applianceRoot) ?? defaults.applianceRoot
        self.backupDirectory = try container.decodeIfPresent(String.self, forKey: .backupDirectory) ?? defaults.backupDirectory
        self.defaultUser = try container.decodeIfPresent(String.self, forKey: .defaultUser) ?? defaults.defaultUser
        self.hostKeyPolicy = try container.decodeIfPresent(String.self, forKey: .hostKeyPolicy) ?? defaults.hostKeyPolicy
        self.maxBodyBytes = try container.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? defaults.maxBodyBytes
        self.localBackupDirectories = try container.decodeIfPresent([String].self, forKey: .localBackupDirectories)
        self.idleTimeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .idleTimeoutSeconds) ?? defaults.idleTimeoutSeconds
        self.requestHeadTimeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .requestHeadTimeoutSeconds) ?? defaults.requestHeadTimeoutSeconds
        self.maxConnections = try container.decodeIfPresent(Int.self, forKey: .maxConnections) ?? defaults.maxConnections
        self.requestBodyTimeoutSeconds = try container.decodeIfPresent(Int.self, forKey: .requestBodyTimeoutSeconds) ?? defaults.requestBodyTimeoutSeconds
        self.maxConnectionsPerAddress = try container.decodeIfPresent(Int.self, forKey: .maxConnectionsPerAddress) ?? defaults.maxConnectionsPerAddress
        self.maxConnectionsPerNetwork = try container.decodeIfPresent(Int.self, forKey: .maxConnectionsPerNetwork) ?? defaults.maxConnectionsPerNetwork
        self.schedules = try container.decodeIfPresent([ScheduleConfiguration].self, forKey: .schedules) ?? []
        try ScheduleConfiguration.validate(self.schedules)
        self.jobs = try container.decodeIfPresent(Int.self, forKey: .jobs)
        self.jobNiceness = try container.decodeIfPresent(Int32.self, forKey: .jobNiceness) ?? defaults.jobNiceness
        self.operatorDestinations = try container.decodeIfPresent([ScheduleConfiguration.Destination].self, forKey: .operatorDestinations) ?? []
        self.recipientKeys = try container.decodeIfPresent([String].self, forKey: .recipientKeys) ?? []
        for key in self.recipientKeys where !key.hasPrefix("/") {
            throw BackupError(.invalidInput, "recipientKeys must hold absolute paths, not '\(SafeText.escaped(key, limit: 200))'")
        }
        for destination in self.operatorDestinations {
            guard !destination.hostname.isEmpty, destination.path.map({ $0.hasPrefix("/") }) ?? true, destination.port.map({ (1...65535).contains($0) }) ?? true else {
                throw BackupError(.invalidInput, "operatorDestinations: each needs a hostname, an absolute path if any, a port in 1-65535 if any (not \(SafeText.escaped(destination.hostname, limit: 80)))")
            }
        }
        if let jobs = self.jobs, !(1...64).contains(jobs) { throw BackupError(.invalidInput, "jobs must be between 1 and 64") }
        if !(0...19).contains(self.jobNiceness) { throw BackupError(.invalidInput, "jobNiceness must be between 0 and 19") }
        for (key, value, range) in [("idleTimeoutSeconds", self.idleTimeoutSeconds, 1...86400), ("requestHeadTimeoutSeconds", self.requestHeadTimeoutSeconds, 1...3600), ("requestBodyTimeoutSeconds", self.requestBodyTimeoutSeconds, 1...3600), ("maxConnections", self.maxConnections, 1...100_000), ("maxConnectionsPerAddress", self.maxConnectionsPerAddress, 1...100_000), ("maxConnectionsPerNetwork", self.maxConnectionsPerNetwork, 1...100_000), ("maxBodyBytes", self.maxBodyBytes, 1024...(16 << 20))] where !range.contains(value) {
            throw BackupError(.invalidInput, "\(key) must be between \(range.lowerBound) and \(range.upperBound)")
        }
        for directory in self.localBackupDirectories ?? [] where !directory.hasPrefix("/") {
            throw BackupError(.invalidInput, "localBackupDirectories must hold absolute paths, not '\(directory)'")
        }
    }

    /// What an omitted user or path of a `localhost` job means on this server.
    public var storageDefaults: StorageDefaults { StorageDefaults(user: self.defaultUser, backupDirectory: self.backupDirectory) }

    /// The directories local backup paths must lie in.
    public var allowedLocalDirectories: [String] { self.localBackupDirectories ?? [self.backupDirectory] }

    /// True when `path` (absolute, without `.` or `..`) is an allowed directory or lies below one.
    public func allowsLocalPath(_ path: String) -> Bool {
        let normalized = "/" + path.split(separator: "/").joined(separator: "/")
        return self.allowedLocalDirectories.contains { allowed in
            let base = "/" + allowed.split(separator: "/").joined(separator: "/")
            return normalized == base || normalized.hasPrefix(base == "/" ? "/" : base + "/")
        }
    }

    /// Whether an `operator` may start a job to `target`: one of `operatorDestinations` names its host
    /// (`localhost` or empty for a local one) and port (22 when unnamed), its user if it names
    /// one, and the target's path or a directory above it if it names one.
    public func allowsOperator(_ target: StorageTarget) -> Bool {
        let path = "/" + target.path.split(separator: "/").joined(separator: "/")
        return self.operatorDestinations.contains { allowed in
            let sameHost = target.isLocal
                ? StorageTarget.isLocalHost(allowed.hostname)
                : allowed.hostname.lowercased() == target.host.lowercased() && (allowed.port ?? 22) == (target.port ?? 22)
            guard sameHost, allowed.username.map({ $0 == target.username }) ?? true else { return false }
            guard let base = allowed.path.map({ "/" + $0.split(separator: "/").joined(separator: "/") }) else { return true }
            return path == base || path.hasPrefix(base == "/" ? "/" : base + "/")
        }
    }

    /// Reads a configuration file.
    public static func load(path: String) throws -> APIConfiguration {
        // It names the manifest, plugin directories and credentials the server runs with.
        try TrustedPath.check(path, what: "configuration")
        do {
            return try JSONDecoder().decode(APIConfiguration.self, from: FileTree.readFile(path))
        } catch let error as BackupError {
            throw error
        } catch {
            throw BackupError(.invalidInput, "configuration \(path): \(JSONCoding.describe(error))")
        }
    }

    /// The host and port of `listen`.
    public func address() throws -> (host: String, port: Int) {
        guard let colon = self.listen.lastIndex(of: ":"), let port = Int(self.listen[self.listen.index(after: colon)...]), (0...65535).contains(port) else {
            throw BackupError(.invalidInput, "listen address '\(self.listen)' is not HOST:PORT")
        }
        var host = String(self.listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    public var resolvedUsersFile: String { self.usersFile ?? self.stateDirectory + "/users.json" }
}
