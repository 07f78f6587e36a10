import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// The `plugin.json` of an external plugin. Documented in `docs/plugins.md`.
public struct ExternalPluginDescriptor: Codable, Sendable, Equatable {
    /// The plugin protocol version this build speaks.
    public static let protocolVersion = 1

    public var id: String
    public var version: String
    /// The protocol version the plugin speaks; must equal `protocolVersion`.
    public var `protocol`: Int
    /// The program to run, relative to the plugin's directory.
    public var executable: String
    public var description: String?
    /// Seconds a step may take before the child is killed.
    public var timeoutSeconds: Double?
    /// The parameters the plugin takes.
    public var parameters: ParameterSchema?
    /// The optional actions it implements besides `collect` and `restore` (today: `verify`).
    public var actions: [String]?
    /// Staged paths (relative to the staging directory; `*` and `?` match within a name) whose
    /// content may differ from one collect to the next (a timestamp): `gwbackup plugins test`
    /// leaves them out of its repeatability rule.
    public var volatile: [String]?
    /// True when the plugin's steps need the network (a remote API): the sandbox then keeps the
    /// host's network; otherwise a step sees only a loopback that is down.
    public var network: Bool?

    /// The longest step a plugin may ask for: a day.
    public static let maximumTimeoutSeconds: Double = 86400

    /// Decodes a `plugin.json` (without checking the executable): every problem names the field.
    public static func decode(_ data: Data) throws -> ExternalPluginDescriptor {
        do {
            return try JSONDecoder().decode(ExternalPluginDescriptor.self, from: data)
        } catch {
            throw BackupError(.pluginFailed, "plugin.json: \(JSONCoding.describe(error))")
        }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Opens the checked executable at `path` for running (fexecve): not through a final symlink, a
    /// regular file, and the same ownership rule as at load, checked on the opened file, so what
    /// runs is what was checked even if the path is changed afterwards. The caller closes it.
    public static func openExecutable(_ path: String) throws -> Int32 {
        guard let real = Self.realPath(path) else {
            throw BackupError(.pluginFailed, "executable \(path) is gone")
        }
        let fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw BackupError(.pluginFailed, "cannot open executable \(path): \(SystemCall.errnoText())") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let text = SystemCall.errnoText()
            close(fd)
            throw BackupError(.pluginFailed, "cannot read executable \(path): \(text)")
        }
        let status = FileStatus(info)
        var problem = status.kind == .regular ? TrustedPath.problem(status) : "is not a regular file"
        if problem == nil {
            do { try TrustedPath.check((real as NSString).deletingLastPathComponent, what: "plugin directory") } catch let error as BackupError { problem = error.message }
        }
        if let problem {
            close(fd)
            throw BackupError(.pluginFailed, "executable \(path): \(problem)")
        }
        return fd
    }

    /// True when the plugin asked to be called for `action`.
    public func implements(_ action: String) -> Bool {
        action == "collect" || action == "restore" || (self.actions ?? []).contains(action)
    }

    /// Reads and checks `directory/plugin.json`; returns it with the path of its checked executable.
    public static func load(directory: String, programDirectory: String? = nil) throws -> (descriptor: ExternalPluginDescriptor, executable: String) {
        let path = directory + "/plugin.json"
        guard try FileStatus.of(path) != nil else {
            throw BackupError(.pluginFailed, "no plugin.json")
        }
        // The descriptor names what runs: the same rule as the executable.
        do { try TrustedPath.check(path, what: "plugin descriptor") } catch let error as BackupError {
            throw BackupError(.pluginFailed, error.message)
        }
        let descriptor = try Self.decode(try FileTree.readFile(path, limit: 1 << 20))
        return (descriptor, try descriptor.check(directory: directory, programDirectory: programDirectory))
    }

    /// Checks the fields and that the executable exists and may be run; returns its path.
    ///
    /// The executable is looked up in the plugin's directory. For the shipped plugins only, a compiled
    /// one (the C `ntp` plugin) may instead sit in `programDirectory`, beside the gwbackup binary
    /// that was built with it (`.build/debug` in a checkout); the same checks apply there.
    @discardableResult
    public func check(directory: String, programDirectory: String? = nil) throws -> String {
        guard !self.id.isEmpty, self.id.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw BackupError(.pluginFailed, "plugin.json: field 'id' must be letters, digits, '-', '_' or '.'")
        }
        guard self.protocol == Self.protocolVersion else {
            throw BackupError(.pluginFailed, "plugin.json: protocol \(self.protocol) is not supported (this build speaks \(Self.protocolVersion))")
        }
        if let problem = RelativePath.problem(self.executable) {
            throw BackupError(.pluginFailed, "plugin.json: field 'executable' \(problem)")
        }
        if let timeout = self.timeoutSeconds, !(timeout > 0 && timeout <= Self.maximumTimeoutSeconds) {
            throw BackupError(.pluginFailed, "plugin.json: field 'timeoutSeconds' must be more than 0 and at most \(Int(Self.maximumTimeoutSeconds)) (a day)")
        }
        var directory = directory
        var executablePath = directory + "/" + self.executable
        if try FileStatus.of(executablePath) == nil, let programDirectory, try FileStatus.of(programDirectory + "/" + self.executable) != nil {
            directory = programDirectory
            executablePath = programDirectory + "/" + self.executable
        }
        guard FileManager.default.isExecutableFile(atPath: executablePath) else {
            throw BackupError(.pluginFailed, "executable \(executablePath) is missing or not executable")
        }
        // Resolved inside the plugin's directory, a regular file, and nobody but its owner (root, or
        // the user gwbackup runs as) can change it or the directories it is reached through, as sudo
        // and sshd refuse: whoever can write there would run code as root.
        guard let realDirectory = Self.realPath(directory), let realExecutable = Self.realPath(executablePath),
              realExecutable.hasPrefix(realDirectory + "/")
        else {
            throw BackupError(.pluginFailed, "executable \(executablePath) resolves outside the plugin's directory")
        }
        guard try FileStatus.of(realExecutable)?.kind == .regular else {
            throw BackupError(.pluginFailed, "executable \(executablePath) is not a regular file")
        }
        // Every directory up to `/`, not only the plugin's own: a writable directory above it lets its
        // owner swap the whole plugin directory between the check and the run.
        do { try TrustedPath.check(realExecutable, what: "plugin executable") } catch let error as BackupError {
            throw BackupError(.pluginFailed, error.message)
        }
        return executablePath
    }
}
