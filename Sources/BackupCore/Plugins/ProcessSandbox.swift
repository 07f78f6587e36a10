import BackupModel
import BackupPOSIX

/// How a plugin step is confined (docs/plugins.md, "The sandbox"). The launcher makes it real
/// (`gwbackup-plugin-guard --sandbox`): PID, mount, IPC and network namespaces; every mount
/// read-only except `writable` and the `overlays`; a fresh /proc, a minimal /dev, an empty /run
/// unless `servicesVisible`; no capabilities that could undo it.
public struct ProcessSandbox: Sendable, Equatable {
    /// A writable overlayfs over `target`: the step sees its changes, the real directory gets none;
    /// they land in `upper`, which the core checks and applies (`OverlayChanges`).
    public struct Overlay: Sendable, Equatable {
        /// The directory overlaid (absolute).
        public var target: String
        /// Where the step's changes land.
        public var upper: String
        /// overlayfs's scratch directory, on the same file system as `upper`.
        public var work: String

        public init(target: String, upper: String, work: String) {
            self.target = target
            self.upper = upper
            self.work = work
        }
    }

    /// Directories the step may write directly (its staging directory).
    public var writable: [String]
    public var overlays: [Overlay]
    /// True when the descriptor asked for the network (`"network": true`); otherwise only a down
    /// loopback exists.
    public var network: Bool
    /// True to leave /run as it is (host service sockets): only for `activate`, whose work is to
    /// tell services to reload.
    public var servicesVisible: Bool

    public init(writable: [String], overlays: [Overlay] = [], network: Bool = false, servicesVisible: Bool = false) {
        self.writable = writable
        self.overlays = overlays
        self.network = network
        self.servicesVisible = servicesVisible
    }
}
