import BackupCore
import BackupModel
import BackupPOSIX
import CGPGME
import Foundation

/// An OpenPGP public key every backup is also encrypted to (`--recipient-key`): whoever holds its
/// secret key reads the backup with stock `gpg --decrypt`, without the security password (an
/// organisation's offline recovery key). Loaded and checked once: a key that is expired, revoked,
/// disabled or cannot encrypt is refused, and so is a file that holds secret key material (the
/// appliance needs the public half only).
public struct GPGRecipientKey: Sendable, Equatable {
    /// The file it came from, for messages.
    public let path: String
    /// The key as read (armored or binary), imported again into each job's private home.
    let data: [UInt8]
    /// The primary key's fingerprint (40 hex digits for v4 keys), recorded in every index.
    public let fingerprint: String

    /// The most a key file may hold.
    static let sizeLimit = 1 << 20

    /// Reads and checks the public key in `path`.
    public static func load(_ path: String, now: Date = Date()) throws -> GPGRecipientKey {
        let name = SafeText.escaped(path)
        let data: [UInt8]
        do {
            data = [UInt8](try FileTree.readFile(path, limit: Self.sizeLimit))
        } catch {
            throw BackupError(.invalidInput, "recipient key \(name) cannot be read: \(BackupError.wrap(error).message)")
        }
        guard !Self.holdsSecretKey(data) else {
            throw BackupError(.invalidInput, "recipient key \(name) holds a secret key: give the public key only (gpg --export), and keep the secret one offline")
        }
        let home = try GPGHome()
        defer { home.close() }
        let context = try GPGContext(passphrase: Secret("unused"), home: home)
        let fingerprints = try Self.importKeys(data, into: context.handle, what: "recipient key \(name)")
        guard fingerprints.count == 1, let fingerprint = fingerprints.first else {
            throw BackupError(.invalidInput, "recipient key \(name) holds \(fingerprints.count) keys; give one key a file")
        }
        var key: gpgme_key_t?
        try GPGME.check(gpgme_get_key(context.handle, fingerprint, &key, 0), "gpgme_get_key")
        guard let key else { throw BackupError(.invalidInput, "recipient key \(name) was not found after its import") }
        defer { gpgme_key_unref(key) }
        try Self.check(key.pointee, name: name, fingerprint: fingerprint, now: now)
        return GPGRecipientKey(path: path, data: data, fingerprint: fingerprint)
    }

    /// Imports `data` into `context`'s home; returns the fingerprints gpg reports, in order.
    static func importKeys(_ data: [UInt8], into context: gpgme_ctx_t, what: String) throws -> [String] {
        var handle: gpgme_data_t?
        try data.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: CChar.self) { chars in
                try GPGME.check(gpgme_data_new_from_mem(&handle, chars.baseAddress, chars.count, 1), "gpgme_data_new_from_mem")
            }
        }
        guard let handle else { throw BackupError(.cryptoFailed, "gpgme_data_new_from_mem returned no data") }
        defer { gpgme_data_release(handle) }
        try GPGME.check(gpgme_op_import(context, handle), "gpgme_op_import")
        guard let result = gpgme_op_import_result(context) else { throw BackupError(.invalidInput, "\(what): gpg imported nothing") }
        var fingerprints: [String] = []
        var status = result.pointee.imports
        while let entry = status {
            if entry.pointee.result == 0, let fpr = entry.pointee.fpr {
                let fingerprint = String(cString: fpr)
                if !fingerprints.contains(fingerprint) { fingerprints.append(fingerprint) }
            }
            status = entry.pointee.next
        }
        guard !fingerprints.isEmpty else { throw BackupError(.invalidInput, "\(what) holds no OpenPGP key gpg can import") }
        return fingerprints
    }

    /// Refuses a key that cannot protect a backup today.
    static func check(_ key: _gpgme_key, name: String, fingerprint: String, now: Date) throws {
        let id = "recipient key \(name) (\(fingerprint))"
        if key.revoked != 0 { throw BackupError(.invalidInput, "\(id) is revoked: get the organisation's current recovery key") }
        if key.disabled != 0 || key.invalid != 0 { throw BackupError(.invalidInput, "\(id) is disabled or invalid") }
        var usable = false
        var expiredOn: Int = 0
        var subkey = key.subkeys
        while let current = subkey {
            let sub = current.pointee
            let expires = Int(sub.expires)
            let expired = sub.expired != 0 || (expires > 0 && Double(expires) <= now.timeIntervalSince1970)
            // gpg drops the capabilities of an expired subkey: its date says when it stopped.
            if expired { expiredOn = max(expiredOn, expires) }
            if sub.can_encrypt != 0 && sub.revoked == 0 && sub.disabled == 0 && sub.invalid == 0 && !expired {
                usable = true
            }
            subkey = sub.next
        }
        if key.expired != 0 || (!usable && expiredOn > 0) {
            let when = expiredOn > 0 ? " since \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(expiredOn))))" : ""
            throw BackupError(.invalidInput, "\(id) is expired\(when): extend it (gpg --quick-set-expire) or give the current one")
        }
        guard usable else {
            throw BackupError(.invalidInput, "\(id) cannot encrypt (it has no valid encryption subkey): give a key made for encryption")
        }
    }

    /// True when `data` starts with secret key material: armored `PRIVATE KEY BLOCK`, or a binary
    /// first packet tagged secret key (5) or secret subkey (7).
    static func holdsSecretKey(_ data: [UInt8]) -> Bool {
        if String(decoding: data.prefix(64 << 10), as: UTF8.self).contains("PRIVATE KEY BLOCK") { return true }
        guard let first = data.first, first & 0x80 != 0 else { return false }
        let tag = first & 0x40 != 0 ? first & 0x3F : (first >> 2) & 0x0F
        return tag == 5 || tag == 7
    }
}

/// A recovery key's secret part (`--recovery-key`): decrypts backups encrypted to its public key
/// without the security password. Kept in memory and imported only into a home on /dev/shm.
public struct GPGRecoveryKey: Sendable, Equatable {
    public let path: String
    let data: [UInt8]
    public let fingerprint: String

    /// Reads `path`, which must hold a secret key, and learns its fingerprint (in a home in memory).
    public static func load(_ path: String) throws -> GPGRecoveryKey {
        let name = SafeText.escaped(path)
        let data: [UInt8]
        do {
            data = [UInt8](try FileTree.readFile(path, limit: GPGRecipientKey.sizeLimit))
        } catch {
            throw BackupError(.invalidInput, "recovery key \(name) cannot be read: \(BackupError.wrap(error).message)")
        }
        guard GPGRecipientKey.holdsSecretKey(data) else {
            throw BackupError(.invalidInput, "recovery key \(name) holds no secret key: give the key exported with gpg --export-secret-keys")
        }
        let home = try GPGHome(inMemory: true)
        defer { home.close() }
        let context = try GPGContext(passphrase: Secret("unused"), home: home)
        let fingerprints = try GPGRecipientKey.importKeys(data, into: context.handle, what: "recovery key \(name)")
        guard let fingerprint = fingerprints.first else { throw BackupError(.invalidInput, "recovery key \(name) holds no key") }
        return GPGRecoveryKey(path: path, data: data, fingerprint: fingerprint)
    }
}
