import ArgumentParser
import BackupCore
import BackupRuntime

/// Where backups are stored: the local directory, or a remote host over SFTP.
struct StorageOptions: ParsableArguments {
    @Option(help: "Storage host; 'localhost' means this machine's backup directory.")
    var host: String = "localhost"

    @Option(help: "SSH port of a remote host.")
    var port: Int?

    @Option(help: "User on the remote host (reported as 'mazu' for local storage).")
    var user: String?

    @Option(help: "Backup directory (local default: /mnt/data/flowgateway-backup).")
    var path: String?

    @Option(name: .customLong("password-file"), help: "File holding the SSH password (or set GWBACKUP_PASSWORD).")
    var passwordFile: String?

    @Option(help: "SSH private key file, instead of a password.")
    var identity: String?

    @Option(name: .customLong("host-key-policy"), help: "accept-new (default), strict, or fingerprint:SHA256:…")
    var hostKeyPolicy: String = "accept-new"

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
    }

    /// The target as the status reports it.
    var target: StorageTarget {
        let local = StorageTarget.isLocalHost(self.host)
        let path = self.path.map { local ? Paths.absolute($0) : $0 } ?? (local ? BackupRuntime.defaultBackupDirectory : "")
        return StorageTarget(
            host: self.host, username: self.user ?? (local ? BackupRuntime.defaultUser : ""), path: path, port: self.port)
    }

    /// The store for the target, reading the SSH password if one is needed.
    func store(runtime: BackupRuntime) throws -> any BackupStore {
        let target = self.target
        var credentials = RemoteCredentials(identityFile: self.identity, hostKeyPolicy: self.hostKeyPolicy)
        if !target.isLocal && self.identity == nil {
            credentials.password = try SecretInput.read(
                file: self.passwordFile, environment: "GWBACKUP_PASSWORD", prompt: "SSH password for \(target.username)@\(target.host): ")
        }
        return try runtime.store(for: target, credentials: credentials)
    }
}
