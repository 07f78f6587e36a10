import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import GatewayClient
import GatewayWire

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
    var hostKeyPolicy: String?

    func validate() throws {
        if let port, !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
    }

    /// The target as the status reports it.
    var target: StorageTarget {
        let local = StorageTarget.isLocalHost(self.host)
        return StorageDefaults.standard.target(host: self.host, username: self.user, path: self.path.map { local ? Paths.absolute($0) : $0 }, port: self.port)
    }

    /// The request body for a server: the host, and the SSH password it needs for a remote one.
    /// Options that only this machine can act on are refused, not ignored.
    func jobStartRequest(securityPassword: Secret, noCert: Bool? = nil) throws -> WireJobRequest {
        if self.identity != nil { throw ValidationError("--identity: the API takes an SSH password only; the server uses its own keys") }
        if self.hostKeyPolicy != nil { throw ValidationError("--host-key-policy: the server's configuration sets its host-key policy") }
        let local = StorageTarget.isLocalHost(self.host)
        var password: Secret?
        if !local {
            guard self.user != nil, self.path != nil else { throw ValidationError("a remote --host needs --user and --path") }
            password = try SecretInput.read(
                file: self.passwordFile, environment: "GWBACKUP_PASSWORD", prompt: "SSH password for \(self.user ?? "")@\(self.host): ")
        }
        // Paths are the server's: passed as given, never made absolute against this directory.
        return WireJobRequest(
            hostname: self.host, username: self.user, password: password, path: self.path, port: self.port,
            securityPassword: securityPassword, noCert: noCert)
    }

    /// The store for the target, reading the SSH password if one is needed.
    func store(runtime: BackupRuntime) throws -> any BackupStore {
        let target = self.target
        var credentials = RemoteCredentials(identityFile: self.identity, hostKeyPolicy: self.hostKeyPolicy ?? "accept-new")
        if !target.isLocal && self.identity == nil {
            credentials.password = try SecretInput.read(
                file: self.passwordFile, environment: "GWBACKUP_PASSWORD", prompt: "SSH password for \(target.username)@\(target.host): ")
        }
        return try runtime.store(for: target, credentials: credentials)
    }
}
