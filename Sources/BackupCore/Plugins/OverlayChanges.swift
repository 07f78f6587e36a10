import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// What a sandboxed restore changed under one overlay, read from the overlay's upper layer after
/// every process of the step is gone, checked against the component's declared paths, and applied
/// to the real root by the core. Nothing is applied unless every change is allowed, so a restore
/// that writes outside its paths changes nothing at all.
///
/// overlayfs records a new or changed file, link or directory as itself in the upper layer (whole:
/// the sandbox mounts with `metacopy=off`), a removal as a character device 0/0 (a whiteout), and
/// a directory that replaced one below as a directory with `trusted.overlay.opaque=y`. A directory
/// that exists below and was only passed through (copied up because something inside changed) is
/// not a change; its own mode or owner changes are not applied.
public struct OverlayChanges {
    /// One change, by its path relative to the root.
    public enum Change: Equatable, Sendable {
        /// A file, link or new directory tree to put at the path (from the upper layer).
        case put(String)
        /// What is at the path goes.
        case remove(String)
        /// The existing directory at the path gets this owner and mode (a directory on the way to, or
        /// at, a declared path: a vault's directory made 0700 on replacement hardware).
        case directoryMetadata(String, uid: UInt32, gid: UInt32, mode: UInt32)
    }

    /// The changes, in the order to apply them.
    public private(set) var changes: [Change] = []
    /// Changes to paths the component does not declare.
    public private(set) var outside: [String] = []
    /// Entries that a restore never puts anywhere (FIFOs, sockets, devices).
    public private(set) var refused: [String] = []

    /// The most entries an upper layer may hold, and how deep.
    static let entryLimit = 100_000
    static let depthLimit = 256

    private let upper: String
    private let root: ConfinedDirectory
    private let declared: DeclaredPaths
    private var entries = 0

    /// Reads `upper`, the upper layer of the overlay over `target` (relative to `root`; "" for the root).
    public init(upper: String, target: String, root: ConfinedDirectory, declared: DeclaredPaths) throws {
        self.upper = upper
        self.root = root
        self.declared = declared
        self.targetPrefixLength = target.isEmpty ? 0 : target.count + 1
        // The overlaid directory itself: its owner or mode, changed by the step (the upper layer's
        // top starts as the target's, see `SandboxedStep`).
        var top = stat()
        if !target.isEmpty, lstat(upper, &top) == 0, let existing = try root.status(target), existing.kind == .directory {
            let mode = UInt32(top.st_mode & 0o7777)
            if (existing.mode, existing.uid, existing.gid) != (mode, top.st_uid, top.st_gid), declared.covers(target) || declared.leadsTo(target) {
                self.changes.append(.directoryMetadata(target, uid: top.st_uid, gid: top.st_gid, mode: mode))
            }
        }
        try self.walk(upper, relative: target, isNew: false, depth: 0)
    }

    /// True when nothing changed.
    public var isEmpty: Bool { self.changes.isEmpty }

    /// Applies the changes to the root: renames from the upper layer (a copy across file systems),
    /// each replacing its target whole, as `ConfinedDirectory.install` does.
    public func apply() throws {
        for change in self.changes {
            switch change {
            case .remove(let relative):
                try self.root.remove(relative)
            case .put(let relative):
                try self.root.install(relative, from: self.source(of: relative))
            case .directoryMetadata(let relative, let uid, let gid, let mode):
                try self.root.setDirectoryOwnerAndMode(relative, uid: uid, gid: gid, mode: mode)
            }
        }
    }

    /// Where the upper layer holds `relative` (the layer's top is the overlaid directory).
    private func source(of relative: String) -> String {
        self.upper + "/" + String(relative.dropFirst(self.targetPrefixLength))
    }

    private let targetPrefixLength: Int

    private mutating func walk(_ directory: String, relative: String, isNew: Bool, depth: Int) throws {
        guard depth < Self.depthLimit else {
            throw BackupError(.pluginFailed, "the restore's changes nest more than \(Self.depthLimit) levels deep under \(SafeText.escaped(relative, limit: 200))")
        }
        for name in try FileTree.names(in: directory) {
            self.entries += 1
            guard self.entries <= Self.entryLimit else {
                throw BackupError(.pluginFailed, "the restore changed more than \(Self.entryLimit) entries")
            }
            let path = directory + "/" + name
            let child = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { throw SystemCall.error("lstat", path) }
            let shown = SafeText.escaped(child, limit: 300)
            switch info.st_mode & S_IFMT {
            case S_IFCHR where info.st_rdev == 0 && !isNew:
                if self.declared.covers(child) { self.changes.append(.remove(child)) } else { self.outside.append(shown + " (removed)") }
            case S_IFDIR:
                let existing = try self.root.status(child)
                if !isNew && !Self.isOpaque(path), let existing, existing.kind == .directory {
                    // Passed through, or its owner or mode changed: the latter applies only on the way
                    // to a declared path (elsewhere it is not a change this component may make).
                    let mode = UInt32(info.st_mode & 0o7777)
                    if (existing.mode, existing.uid, existing.gid) != (mode, info.st_uid, info.st_gid),
                       self.declared.covers(child) || self.declared.leadsTo(child) {
                        self.changes.append(.directoryMetadata(child, uid: info.st_uid, gid: info.st_gid, mode: mode))
                    }
                    try self.walk(path, relative: child, isNew: false, depth: depth + 1)
                    continue
                }
                // A new directory, or one that replaced what was there: put whole, if all it holds may be.
                let allowed = self.declared.covers(child) || (existing == nil && self.declared.leadsTo(child))
                if !allowed { self.outside.append(shown + "/") }
                let before = (self.outside.count, self.refused.count)
                try self.walk(path, relative: child, isNew: true, depth: depth + 1)
                if allowed && !isNew && (self.outside.count, self.refused.count) == before { self.changes.append(.put(child)) }
            case S_IFREG, S_IFLNK:
                if !self.declared.covers(child) {
                    self.outside.append(shown)
                } else if !isNew {
                    self.changes.append(.put(child))
                }
            case S_IFIFO:
                self.refused.append(shown + " (a FIFO)")
            case S_IFSOCK:
                self.refused.append(shown + " (a socket)")
            default:
                self.refused.append(shown + " (a device)")
            }
        }
    }

    /// overlayfs marks a directory that replaced the one below with this attribute.
    private static func isOpaque(_ path: String) -> Bool {
        guard let getAttribute = Self.lgetxattr else { return false }
        var value = [UInt8](repeating: 0, count: 4)
        let length = value.withUnsafeMutableBytes { getAttribute(path, "trusted.overlay.opaque", $0.baseAddress, $0.count) }
        return length == 1 && value[0] == UInt8(ascii: "y")
    }

    /// glibc's `lgetxattr` (sys/xattr.h, which Swift's Glibc module does not include), by name.
    private static let lgetxattr: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "lgetxattr") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int).self)
    }()
}
