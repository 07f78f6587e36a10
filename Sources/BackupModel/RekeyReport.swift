/// What a rotation (`gwbackup rekey`, `POST …/rekey`) did, backup by backup: key identifiers only,
/// never a password.
public struct RekeyReport: Codable, Sendable, Equatable {
    /// What happened to one backup.
    public struct Outcome: Codable, Sendable, Equatable {
        public enum Result: String, Codable, Sendable {
            /// Re-encrypted: it now opens with the new password only.
            case rekeyed
            /// An earlier, interrupted rotation of it was finished.
            case finished
            /// It already opened with the new password, with nothing left to do.
            case unchanged
            case failed
        }

        public var backup: String
        public var result: Result
        public var message: String
        /// The key it needs now (`KeyIdentifier`), when known.
        public var keyID: String?

        public init(backup: String, result: Result, message: String, keyID: String?) {
            self.backup = backup
            self.result = result
            self.message = message
            self.keyID = keyID
        }

        enum CodingKeys: String, CodingKey {
            case backup, result, message
            case keyID = "key_id"
        }
    }

    public var location: String
    public var oldKeyID: String
    public var newKeyID: String
    public var backups: [Outcome]
    public var ok: Bool { !self.backups.contains { $0.result == .failed } }

    public init(location: String, oldKeyID: String, newKeyID: String, backups: [Outcome]) {
        self.location = location
        self.oldKeyID = oldKeyID
        self.newKeyID = newKeyID
        self.backups = backups
    }

    // snake_case, as every `--json` output (docs/json/rekey.schema.json).
    enum CodingKeys: String, CodingKey {
        case location, backups
        case oldKeyID = "old_key_id"
        case newKeyID = "new_key_id"
    }
}
