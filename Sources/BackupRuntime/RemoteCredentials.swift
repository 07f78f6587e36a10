import BackupCore
public import BackupModel
import BackupPOSIX

/// How to log in to a remote host. Secrets stay in `Secret`s.
public struct RemoteCredentials: Sendable {
    public var password: Secret?
    public var identityFile: String?
    public var hostKeyPolicy: String

    public init(password: Secret? = nil, identityFile: String? = nil, hostKeyPolicy: String = "accept-new") {
        self.password = password
        self.identityFile = identityFile
        self.hostKeyPolicy = hostKeyPolicy
    }
}
