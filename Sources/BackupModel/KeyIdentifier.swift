/// Which security password a backup needs, without saying anything useful about the password: 16 hex
/// digits of PBKDF2-HMAC-SHA512 over the password (salt `gwbackup key identifier v1`, 250,000
/// rounds: about the work of the S2K derivation every backup file already offers a guesser). Recorded
/// in every index (authenticated) and plain manifest (a hint, for `list` without the password), so
/// that after a rotation (`gwbackup rekey`) `list` tells which backups need which password. Two
/// appliances with the same password share the identifier; that is the point.
///
/// The derivation (`KeyIdentifier.of`) is the core's: the model only knows the identifiers' form.
public enum KeyIdentifier {
    /// True for 16 lowercase hex digits.
    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 16 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
