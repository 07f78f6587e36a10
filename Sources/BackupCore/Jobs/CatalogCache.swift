import BackupModel
import BackupPOSIX
import Crypto
import Foundation

/// What the security password already authenticated, kept in the state directory so that opening a
/// catalog of N backups costs one key derivation instead of N: `catalog-cache.json` holds, for each
/// backup of a store, the SHA-256 of its encrypted `index.json.gpg` and the index it decrypted to,
/// under an HMAC-SHA256 whose key lives only in `catalog-key.gpg`, encrypted with the security password
/// like a component (one S2K derivation to open). An encrypted index whose bytes hash to a cached digest
/// decrypts to the cached index; anything else is decrypted in full. Without the right password the key
/// does not open and the cache is not used; a record that does not carry its MAC is ignored, so an edited
/// cache can only cost time, never be believed.
struct CatalogCache: Sendable {
    static let fileName = "catalog-cache.json"
    static let keyFileName = "catalog-key.gpg"
    /// The cache file is ignored beyond this (10,000 entries of a few KiB each fit).
    static let sizeLimit = 64 << 20

    struct Record: Codable, Equatable, Sendable {
        var store: String
        var name: String
        /// SHA-256 of the encrypted index, lowercase hex.
        var digest: String
        /// The decrypted index, as it decrypted.
        var index: String
        /// HMAC-SHA256 over the four fields above, lowercase hex.
        var mac: String
    }

    struct File: Codable {
        var version: Int
        var records: [Record]
    }

    let stateDirectory: String
    private(set) var key: SymmetricKey?
    private var records: [String: Record] = [:]

    /// Opens the cache with `passphrase`: one key derivation. Never throws: a cache that cannot be read
    /// or whose key does not open is empty. Blocking.
    static func open(stateDirectory: String, cipher: any PayloadCipher, passphrase: Secret) -> CatalogCache {
        var cache = CatalogCache(stateDirectory: stateDirectory)
        guard let encrypted = try? FileTree.readFile(stateDirectory + "/" + Self.keyFileName, limit: 64 << 10) else { return cache }
        let sink = BoundedMemorySink(limit: 64, what: "the catalog key")
        guard (try? cipher.decrypt(from: MemoryByteSource(encrypted), to: sink, passphrase: passphrase)) != nil, sink.bytes.count == 32 else { return cache }
        cache.key = SymmetricKey(data: sink.bytes)
        if let data = try? FileTree.readFile(stateDirectory + "/" + Self.fileName, limit: Self.sizeLimit),
            let file = try? JSONDecoder().decode(File.self, from: data), file.version == 1
        {
            for record in file.records { cache.records[Self.slot(record.store, record.name)] = record }
        }
        return cache
    }

    /// The index that the encrypted index `digest` of `name` in `store` decrypted to before, if the
    /// record carries a valid MAC.
    func lookup(store: String, name: String, digest: String) -> [UInt8]? {
        guard let key = self.key, let record = self.records[Self.slot(store, name)], record.digest == digest else { return nil }
        let expected = Self.mac(store: store, name: name, digest: digest, index: record.index, key: key)
        // Compared in constant time: the MAC is a secret-keyed value.
        guard let given = Data(hexString: record.mac), given.count == expected.count,
            zip(given, expected).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0
        else { return nil }
        return Array(record.index.utf8)
    }

    /// Replaces the records of `store` with `authenticated` (name, digest, decrypted index) and writes
    /// the cache; creates the key (encrypted with `passphrase`) when there is none. Best effort: a
    /// cache that cannot be written costs time on the next open, nothing else. Blocking.
    mutating func save(store: String, authenticated: [(name: String, digest: String, index: [UInt8])], cipher: any PayloadCipher, passphrase: Secret) {
        guard !authenticated.isEmpty else { return }
        // A read-only command (list) may be the first to use the state directory.
        guard (try? FileTree.makeDirectories(self.stateDirectory, mode: 0o700)) != nil else { return }
        if self.key == nil {
            let key = SymmetricKey(size: .bits256)
            let sink = BoundedMemorySink(limit: 64 << 10, what: "the encrypted catalog key")
            let plain = key.withUnsafeBytes { Data($0) }
            do {
                try cipher.encrypt(from: MemoryByteSource(plain), to: sink, passphrase: passphrase)
                try FileTree.writeAtomically(Data(sink.bytes), to: self.stateDirectory + "/" + Self.keyFileName)
            } catch {
                return
            }
            // A new key: records made under the old one would no longer verify.
            self.records = [:]
            self.key = key
        }
        guard let key = self.key else { return }
        self.records = self.records.filter { $0.value.store != store }
        for item in authenticated {
            let index = String(decoding: item.index, as: UTF8.self)
            let mac = Self.mac(store: store, name: item.name, digest: item.digest, index: index, key: key)
            self.records[Self.slot(store, item.name)] = Record(store: store, name: item.name, digest: item.digest, index: index, mac: mac.hexString)
        }
        let file = File(version: 1, records: self.records.values.sorted { ($0.store, $0.name) < ($1.store, $1.name) })
        guard let data = try? JSONCoding.encoder().encode(file), data.count <= Self.sizeLimit else { return }
        try? FileTree.writeAtomically(data, to: self.stateDirectory + "/" + Self.fileName)
    }

    private static func slot(_ store: String, _ name: String) -> String { store + "\u{0}" + name }

    private static func mac(store: String, name: String, digest: String, index: String, key: SymmetricKey) -> Data {
        var hmac = HMAC<SHA256>(key: key)
        // Each field with its length: no two different records hash the same input.
        for field in [store, name, digest, index] {
            let bytes = Array(field.utf8)
            hmac.update(data: withUnsafeBytes(of: UInt64(bytes.count).bigEndian) { Array($0) })
            hmac.update(data: bytes)
        }
        return Data(hmac.finalize())
    }
}

extension Data {
    /// Lowercase hex.
    var hexString: String { self.map { String(format: "%02x", $0) }.joined() }

    /// Bytes from lowercase or uppercase hex; nil for anything else.
    init?(hexString: String) {
        let digits = Array(hexString.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 0x30...0x39: return digit - 0x30
            case 0x61...0x66: return digit - 0x61 + 10
            case 0x41...0x46: return digit - 0x41 + 10
            default: return nil
            }
        }
        var position = 0
        while position < digits.count {
            guard let high = value(digits[position]), let low = value(digits[position + 1]) else { return nil }
            bytes.append(high << 4 | low)
            position += 2
        }
        self.init(bytes)
    }
}
