import BackupCore
public import BackupModel
import BackupPOSIX

/// Where and how to log in over SSH.
public struct SSHEndpoint: Sendable {
    /// How to authenticate.
    public enum Authentication: Sendable {
        case password(Secret)
        /// A private key file (and its passphrase, if it has one).
        case publicKey(file: String, passphrase: Secret?)
    }

    public var host: String
    public var port: Int
    public var username: String
    public var authentication: Authentication
    public var hostKeyPolicy: HostKeyPolicy
    public var knownHosts: KnownHosts
    /// Seconds to wait for the connection and for any single operation.
    public var timeoutSeconds: Int
    /// Seconds between SSH keepalives while the connection is idle (a plugin collecting, say), so
    /// that a firewall or NAT between does not drop it; 0 sends none.
    public var keepaliveSeconds: Double = 30
    /// The most one file transfer may take, in all (the timeout above is per wait: a server that
    /// answers every 25 s would otherwise hold a job forever).
    public var transferDeadlineSeconds: Double = 3600

    public init(host: String, port: Int = 22, username: String, authentication: Authentication, hostKeyPolicy: HostKeyPolicy = .acceptNew, knownHosts: KnownHosts, timeoutSeconds: Int = 30) {
        self.host = host
        self.port = port
        self.username = username
        self.authentication = authentication
        self.hostKeyPolicy = hostKeyPolicy
        self.knownHosts = knownHosts
        self.timeoutSeconds = timeoutSeconds
    }
}
