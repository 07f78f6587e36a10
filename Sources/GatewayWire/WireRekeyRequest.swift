public import BackupModel
import Foundation

/// The body of `POST …/rekey` (this server's extension): where the backups are and the current
/// security password, as a job request names them (`WireJobRequest`), plus `new_security_pwd` and
/// optionally `backups` (names; all of this appliance's when absent). The server reads a body with
/// `parse`, which checks every field; encoding (the client's) reveals both passwords into the body
/// and nowhere else.
public struct WireRekeyRequest: Encodable, Sendable {
    /// The destination and the current password (`security_pwd`).
    public var job: WireJobRequest
    public var newSecurityPassword: Secret
    /// The backups to rotate; empty: every backup of this appliance that opens with either password.
    public var backups: [String]
    /// `drop_recovery_keys`: rotate backups encrypted to recovery keys the server does not encrypt
    /// to, leaving those keys out (`BackupRekey.dropRecoveryKeys`).
    public var dropRecoveryKeys: Bool

    public init(job: WireJobRequest, newSecurityPassword: Secret, backups: [String] = [], dropRecoveryKeys: Bool = false) {
        self.job = job
        self.newSecurityPassword = newSecurityPassword
        self.backups = backups
        self.dropRecoveryKeys = dropRecoveryKeys
    }

    enum CodingKeys: String, CodingKey {
        case newSecurityPassword = "new_security_pwd"
        case backups
        case dropRecoveryKeys = "drop_recovery_keys"
    }

    /// Parses a body: the job request's fields and rules, then the rotation's own.
    public static func parse(_ data: Data) throws -> WireRekeyRequest {
        let job = try WireJobRequest.parse(data)
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw WireRequestError("the request body must be a JSON object")
        }
        for field in ["no_cert", "backup", "components", "appliance"] where object[field] != nil {
            throw WireRequestError("field '\(field)' belongs to a restore; a rotation takes 'backups' (names) and 'new_security_pwd'")
        }
        guard case .string(let new)? = object[CodingKeys.newSecurityPassword.rawValue], !new.isEmpty else {
            throw WireRequestError("field 'new_security_pwd' is required and must be a non-empty string")
        }
        guard new.utf8.count <= 4096, !new.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
            throw WireRequestError("field 'new_security_pwd' must be at most 4096 bytes without control characters")
        }
        var backups: [String] = []
        switch object[CodingKeys.backups.rawValue] {
        case nil, .null?: break
        case .array(let items)? where items.count <= 1024:
            backups = try items.map { item in
                guard case .string(let name) = item, WireJobRequest.isBackupName(name) else {
                    throw WireRequestError("field 'backups' must be an array of backup names (not empty, no '/', not starting with '.')")
                }
                return name
            }
        default: throw WireRequestError("field 'backups' must be an array of at most 1024 backup names")
        }
        var drop = false
        switch object[CodingKeys.dropRecoveryKeys.rawValue] {
        case nil, .null?: break
        case .bool(let flag)?: drop = flag
        default: throw WireRequestError("field 'drop_recovery_keys' must be true or false")
        }
        return WireRekeyRequest(job: job, newSecurityPassword: Secret(new), backups: backups, dropRecoveryKeys: drop)
    }

    /// The body. It holds both passwords: it goes to the request and nowhere else.
    public func encode(to encoder: any Encoder) throws {
        try self.job.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.newSecurityPassword.revealed, forKey: .newSecurityPassword)
        if !self.backups.isEmpty { try container.encode(self.backups, forKey: .backups) }
        if self.dropRecoveryKeys { try container.encode(true, forKey: .dropRecoveryKeys) }
    }
}
