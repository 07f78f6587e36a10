import BackupModel
import BackupPOSIX
import Foundation

/// The secrets of a schedule, from its credentials file: a JSON object with `security_pwd` and, for
/// a remote destination, `password`. The file must belong to the server's user and be readable by
/// it alone (as ssh demands of a private key): the configuration file that names it may be world-readable.
public struct ScheduleCredentials: Sendable {
    public var securityPassword: Secret
    public var password: Secret?

    /// Reads and checks `path`; errors name the file and the problem, never a value.
    public static func load(_ path: String) throws -> ScheduleCredentials {
        guard let status = try FileStatus.of(path) else {
            throw BackupError(.invalidInput, "credentials file \(path) does not exist")
        }
        guard status.kind == .regular else { throw BackupError(.invalidInput, "credentials file \(path) is not a regular file") }
        guard status.uid == geteuid() else {
            throw BackupError(.invalidInput, "credentials file \(path) belongs to user \(status.uid), not to this server's user \(geteuid())")
        }
        guard status.mode & 0o077 == 0 else {
            throw BackupError(.invalidInput, "credentials file \(path) can be read by others (mode \(String(status.mode & 0o7777, radix: 8))): chmod 600 \(path)")
        }
        try TrustedPath.check(path, what: "credentials file")
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: try FileTree.readFile(path, limit: 64 << 10))
        } catch {
            throw BackupError(.invalidInput, "credentials file \(path) is not a JSON object")
        }
        for key in object.keys where key != "security_pwd" && key != "password" {
            throw BackupError(.invalidInput, "credentials file \(path) has an unknown field '\(SafeText.escaped(key))'")
        }
        guard case .string(let security)? = object["security_pwd"], !security.isEmpty else {
            throw BackupError(.invalidInput, "credentials file \(path) needs a non-empty string 'security_pwd'")
        }
        var password: Secret?
        switch object["password"] {
        case nil, .null?: password = nil
        case .string(let text)?: password = Secret(text)
        default: throw BackupError(.invalidInput, "credentials file \(path): 'password' must be a string")
        }
        return ScheduleCredentials(securityPassword: Secret(security), password: password)
    }
}
