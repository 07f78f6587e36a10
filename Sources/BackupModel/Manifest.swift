import Foundation

/// A declarative list of an appliance's components and the plugin that backs up each one.
/// Documented in `docs/manifest.md`.
public struct Manifest: Codable, Sendable, Equatable {
    /// The manifest format this build reads and writes.
    public static let currentVersion = 1

    /// The manifest format version.
    public var version: Int
    /// The kind of appliance, e.g. `flowgateway`; it names the backups.
    public var appliance: String
    /// Free text for people.
    public var description: String?
    /// The components, in the order they are backed up and restored.
    public var components: [ManifestComponent]

    public init(version: Int = Manifest.currentVersion, appliance: String, description: String? = nil, components: [ManifestComponent]) {
        self.version = version
        self.appliance = appliance
        self.description = description
        self.components = components
    }

    /// Decodes a manifest, turning JSON errors into a `.invalidManifest` error that names the field.
    public static func decode(_ data: Data, source: String) throws -> Manifest {
        do {
            return try JSONDecoder().decode(Manifest.self, from: data)
        } catch {
            throw BackupError(.invalidManifest, "\(source): \(JSONCoding.describe(error))")
        }
    }

    /// The component called `name`.
    public func component(named name: String) -> ManifestComponent? {
        self.components.first { $0.name == name }
    }
}
