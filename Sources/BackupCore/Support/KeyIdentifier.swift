public import BackupModel
import BackupPOSIX
import CryptoExtras
import Foundation
import Synchronization

/// The derivation of key identifiers (PBKDF2 through swift-crypto's BoringSSL).
extension KeyIdentifier {
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
}
