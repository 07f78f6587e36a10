import BackupCore
import BackupModel
import BackupPOSIX
import Foundation

/// Host keys seen before, pinned per host, port and key type, in a JSON file in the state directory.
public struct KnownHosts: Sendable {
    /// The file, e.g. `STATE/known_hosts.json`.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// `host:port` as the file keys it.
    static func key(host: String, port: Int) -> String { "\(host):\(port)" }

    /// The recorded fingerprints of `host:port`, by key type.
    public func fingerprints(host: String, port: Int) throws -> [String: String] {
        try self.load()[Self.key(host: host, port: port)] ?? [:]
    }

    /// Decides whether to trust `fingerprint` of `type` for `host:port` under `policy`; records a new
    /// key under `accept-new`. Throws `.hostKey` naming the host and both fingerprints otherwise.
    public func check(host: String, port: Int, type: String, fingerprint: String, policy: HostKeyPolicy) throws {
        let known = try self.fingerprints(host: host, port: port)
        if case .fingerprint(let expected) = policy {
            guard expected == fingerprint else {
                throw BackupError(.hostKey, "the host key of \(host):\(port) is \(type) \(fingerprint), not the expected \(expected); nothing was sent")
            }
            return
        }
        if let recorded = known[type] {
            guard recorded == fingerprint else {
                throw BackupError(.hostKey, "the host key of \(host):\(port) has CHANGED: recorded \(type) \(recorded), now \(fingerprint); refusing to connect (nothing was sent). If the change is expected, remove the entry from \(self.path)")
            }
            return
        }
        if let (otherType, otherFingerprint) = known.first {
            throw BackupError(.hostKey, "the host key of \(host):\(port) has CHANGED: recorded \(otherType) \(otherFingerprint), now \(type) \(fingerprint); refusing to connect (nothing was sent)")
        }
        guard policy == .acceptNew else {
            throw BackupError(.hostKey, "\(host):\(port) is not a known host (its key is \(type) \(fingerprint)) and the host key policy is strict; nothing was sent")
        }
        var all = try self.load()
        all[Self.key(host: host, port: port), default: [:]][type] = fingerprint
        try FileTree.makeDirectories((self.path as NSString).deletingLastPathComponent, mode: 0o700)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(all), to: self.path)
    }

    private func load() throws -> [String: [String: String]] {
        guard try FileStatus.of(self.path) != nil else { return [:] }
        do {
            return try JSONDecoder().decode([String: [String: String]].self, from: FileTree.readFile(self.path))
        } catch {
            throw BackupError(.hostKey, "the known hosts file \(self.path) is unreadable: \(JSONCoding.describe(error))")
        }
    }
}
