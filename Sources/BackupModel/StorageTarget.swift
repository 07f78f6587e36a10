/// Where a job stores or finds backups, as the operator asked for it (what the status reports).
public struct StorageTarget: Sendable, Equatable {
    /// `localhost` for local storage, or a remote host.
    public var host: String
    public var username: String
    /// The backup path as requested.
    public var path: String
    /// The SSH port, for remote hosts.
    public var port: Int?

    public init(host: String, username: String, path: String, port: Int? = nil) {
        self.host = host
        self.username = username
        self.path = path
        self.port = port
    }

    /// True for local storage.
    public var isLocal: Bool { Self.isLocalHost(self.host) }

    /// True when `host` means this machine's storage, as the API defines `localhost`.
    public static func isLocalHost(_ host: String) -> Bool {
        host.isEmpty || host.lowercased() == "localhost"
    }
}
