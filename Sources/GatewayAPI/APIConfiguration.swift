import BackupCore
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

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen, certificate, privateKey, stateDirectory, usersFile, manifest, pluginDirectories, applianceRoot
        case backupDirectory, defaultUser, hostKeyPolicy, maxBodyBytes
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
    }

    /// Reads a configuration file.
    public static func load(path: String) throws -> APIConfiguration {
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
