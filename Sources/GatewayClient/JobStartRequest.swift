public import BackupCore
import Foundation

/// The body of `POST …/backup` and `POST …/restore`, as the API document names its fields.
public struct JobStartRequest: Sendable {
    /// `"localhost"` for the server's own backup directory; any other host is reached over SFTP.
    public var hostname: String
    public var port: Int?
    public var username: String?
    /// The SSH password, for a remote host.
    public var password: Secret?
    public var path: String?
    public var securityPassword: Secret
    /// Restore only: leave out the certificate-bound components.
    public var noCert: Bool?

    public init(hostname: String, port: Int? = nil, username: String? = nil, password: Secret? = nil, path: String? = nil, securityPassword: Secret, noCert: Bool? = nil) {
        self.hostname = hostname
        self.port = port
        self.username = username
        self.password = password
        self.path = path
        self.securityPassword = securityPassword
        self.noCert = noCert
    }

    /// The JSON body. It holds secrets: it goes to the request and nowhere else.
    func body() throws -> Data {
        var object: [String: Any] = ["hostname": self.hostname, "security_pwd": self.securityPassword.revealed]
        if let port { object["port"] = port }
        if let username { object["username"] = username }
        if let password { object["password"] = password.revealed }
        if let path { object["path"] = path }
        // The document's clients send the flag as a string.
        if let noCert { object["no_cert"] = noCert ? "true" : "false" }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
