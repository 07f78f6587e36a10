import CryptoExtras
import Foundation
import Synchronization

/// Which security password a backup needs, without saying anything useful about the password: 16 hex
/// digits of PBKDF2-HMAC-SHA512 over the password (salt `gwbackup key identifier v1`, 250,000
/// rounds: about the work of the S2K derivation every backup file already offers a guesser). Recorded
/// in every index (authenticated) and plain manifest (a hint, for `list` without the password), so
/// that after a rotation (`gwbackup rekey`) `list` tells which backups need which password. Two
/// appliances with the same password share the identifier; that is the point.
public enum KeyIdentifier {
    /// PBKDF2 rounds: fixed, since the identifiers of all backups must stay comparable.
    public static let rounds = 250_000
    static let salt = Array("gwbackup key identifier v1".utf8)

    /// Derived once per password and process (the derivation costs a tenth of a second).
    private static let cache = Mutex<[String: String]>([:])

    /// The identifier of `secret`.
    public static func of(_ secret: Secret) -> String {
        if let known = Self.cache.withLock({ $0[secret.revealed] }) { return known }
        // The derivation cannot fail for these parameters (SHA-512, 64 bytes, rounds above the floor).
        let key = (try? KDF.Insecure.PBKDF2.deriveKey(from: Array(secret.revealed.utf8), salt: Self.salt, using: .sha512, outputByteCount: 64, rounds: Self.rounds))
        let id = key.map { $0.withUnsafeBytes { bytes in bytes.prefix(8).map { String(format: "%02x", $0) }.joined() } } ?? ""
        Self.cache.withLock { cache in
            if cache.count > 16 { cache.removeAll() }
            cache[secret.revealed] = id
        }
        return id
    }

    /// True for 16 lowercase hex digits.
    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 16 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}
