/// One component of an appliance: what to back up and which plugin does it.
public struct ManifestComponent: Codable, Sendable, Equatable {
    /// The component's name; it names its file in a backup, so it is restricted to `[a-z0-9_-]`.
    public var name: String
    /// The id of the plugin that collects and restores it.
    public var plugin: String
    /// When true, a failure of this component warns instead of failing the backup.
    public var optional: Bool
    /// Labels used to select components; `cert` marks what `no_cert` skips.
    public var tags: [String]
    /// The plugin's parameters; paths are relative to the appliance root.
    public var parameters: [String: JSONValue]
    /// Free text for people.
    public var description: String?

    /// The tag that `no_cert` restores skip.
    public static let certificateTag = "cert"

    public init(name: String, plugin: String, optional: Bool = false, tags: [String] = [], parameters: [String: JSONValue] = [:], description: String? = nil) {
        self.name = name
        self.plugin = plugin
        self.optional = optional
        self.tags = tags
        self.parameters = parameters
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case name, plugin, optional, tags, parameters, description
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.plugin = try container.decode(String.self, forKey: .plugin)
        self.optional = try container.decodeIfPresent(Bool.self, forKey: .optional) ?? false
        self.tags = try container.decodeIfPresent([String].self, forKey: .tags) ?? []
        self.parameters = try container.decodeIfPresent([String: JSONValue].self, forKey: .parameters) ?? [:]
        self.description = try container.decodeIfPresent(String.self, forKey: .description)
    }

    /// True when `name` follows the component name rule: 1-64 of `a-z`, `0-9`, `-`, `_`. Names from a
    /// backup are checked with it wherever they are read, since they become file names.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }
    }

    /// True when `no_cert` restores skip this component.
    public var isCertificateBound: Bool { self.tags.contains(Self.certificateTag) }
}
