import Foundation

/// Who this appliance is, as its backups record it: a random identifier created once in the state
/// directory (`appliance-id`), and the hostname for people. Every backup's authenticated index carries
/// both, so appliances that share a destination each act on their own backups, and retention never
/// touches another's. Replacement hardware gets a fresh identifier and restores another's backups on
/// purpose (see `AuthenticatedCatalog.choose`).
public struct ApplianceIdentity: Sendable, Equatable, Codable {
    /// The file in the state directory.
    public static let fileName = "appliance-id"

    /// `gw-` and 32 lowercase hex digits.
    public var id: String
    /// The hostname when the identity was read (it may change; the identifier does not).
    public var hostname: String

    public init(id: String, hostname: String) {
        self.id = id
        self.hostname = hostname
    }

    /// True for an identifier of the form this build creates: `gw-` and 32 lowercase hex digits.
    public static func isValid(_ id: String) -> Bool {
        let hex = id.utf8.dropFirst(3)
        return id.hasPrefix("gw-") && hex.count == 32 && hex.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// This machine's hostname, bounded and without control characters (it is written into indexes
    /// and shown to operators).
    public static var currentHostname: String {
        let name = ProcessInfo.processInfo.hostName
        let clean = String(String.UnicodeScalarView(name.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7f }))
        return String(clean.prefix(253))
    }
}
