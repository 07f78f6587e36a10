import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// A private, short-lived GnuPG home (0700) for one operation, so no keyring, cache or agent of the
/// machine's is used, and the agent GPGME starts is stopped when the operation ends.
final class GPGHome {
    let path: String

    /// Where homes are made: `/tmp`, and `/dev/shm` (memory) for a home that will hold a secret key.
    static let bases = ["/tmp", "/dev/shm"]

    /// Creates `BASE/gwb-gpg-XXXXXX` (short: the agent's socket path has a length limit) with a
    /// gpg.conf that makes symmetric encryption AES-256 with a strong key derivation. `inMemory` puts
    /// it on /dev/shm: a recovery key's secret part must never reach the appliance's disk.
    init(compress: Bool = true, inMemory: Bool = false) throws {
        let base = inMemory ? Self.bases[1] : Self.bases[0]
        if inMemory {
            // /dev/shm must be memory (tmpfs), or the secret key would reach a disk after all.
            let mounts = (try? FileTree.readFile("/proc/self/mounts", limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            let memory = mounts.split(separator: "\n").contains { line in
                let fields = line.split(separator: " ")
                return fields.count > 2 && fields[1] == base && fields[2] == "tmpfs"
            }
            guard memory else {
                throw BackupError(.system, "\(base) is not a tmpfs: a recovery key is imported only into memory, never onto a disk")
            }
        }
        var template = Array("\(base)/gwb-gpg-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw SystemCall.error("mkdtemp", "\(base)/gwb-gpg-XXXXXX") }
        self.path = String(cString: created)
        let configuration = """
            s2k-cipher-algo AES256
            s2k-digest-algo SHA512
            s2k-count 65011712
            personal-cipher-preferences AES256
            no-greeting
            no-permission-warning
            \(compress ? "" : "compress-algo none")

            """
        try FileTree.writeAtomically(Data(configuration.utf8), to: self.path + "/gpg.conf")
        // Who owns it: the next job removes a home whose owner died (and stops its agent).
        try FileTree.writeAtomically(Data(Self.processIdentity(getpid()).utf8), to: self.path + "/" + Self.ownerFile)
    }

    static let prefix = "gwb-gpg-"
    static let ownerFile = "gwbackup-owner"

    /// `pid starttime` (field 22 of /proc/PID/stat): a PID reused by another process does not match.
    static func processIdentity(_ pid: Int32) -> String {
        guard let stat = try? FileTree.readFile("/proc/\(pid)/stat", limit: 4096) else { return "\(pid) ?" }
        let text = String(decoding: stat, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return "\(pid) ?" }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return "\(pid) \(fields.count > 19 ? String(fields[19]) : "?")"
    }

    /// Removes the homes (and stops the agents) of gwbackup processes that died: a job killed with
    /// SIGKILL cannot stop its own. Homes of live processes, and of other users, are left alone.
    static func removeAbandoned(now: Date = Date()) {
        defer { Self.killOrphanedAgents() }
        for base in Self.bases {
            Self.removeAbandoned(in: base, now: now)
        }
    }

    private static func removeAbandoned(in base: String, now: Date) {
        guard let names = try? FileTree.names(in: base) else { return }
        for name in names where name.hasPrefix(prefix) {
            let path = base + "/" + name
            guard let status = try? FileStatus.of(path), status.kind == .directory, status.uid == geteuid() else { continue }
            if let owner = try? FileTree.readFile(path + "/" + ownerFile, limit: 256) {
                let identity = String(decoding: owner, as: UTF8.self)
                guard let pid = identity.split(separator: " ").first.flatMap({ Int32($0) }), processIdentity(pid) != identity else { continue }
            } else if now.timeIntervalSince1970 - Double(status.mtimeSeconds) < 3600 {
                // No owner yet (being created) or an older version's: only once it is old.
                continue
            }
            stopAgent(home: path)
            try? FileTree.remove(path)
        }
    }

    private var closed = false
    private let closing = NSLock()

    deinit {
        self.close()
    }

    /// Stops the home's agent and removes the home; safe to call twice.
    func close() {
        let first = self.closing.withLock { () -> Bool in
            defer { self.closed = true }
            return !self.closed
        }
        guard first else { return }
        Self.stopAgent(home: self.path)
        try? FileTree.remove(self.path)
    }

    /// Kills gpg-agents whose private home is gone or belongs to a dead gwbackup process. A job killed
    /// while gpg was starting its agent leaves one that came up after the clean-up looked (so
    /// `gpgconf --kill` missed it); found through /proc by its unique `--homedir`, killed by PID.
    static func killOrphanedAgents() {
        guard let entries = try? FileTree.names(in: "/proc") else { return }
        for entry in entries where entry.allSatisfy(\.isNumber) {
            guard let pid = Int32(entry), pid != getpid(),
                  // FileTree's read(2), not FileManager.contents(atPath:): swift-foundation leaked
                  // the buffer of every /proc file it read (64 MB over 200 failed API jobs, issue 23).
                  let data = try? FileTree.readFile("/proc/\(entry)/cmdline", limit: 1 << 20) else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let program = arguments.first, program.hasSuffix("gpg-agent"),
                  let flag = arguments.firstIndex(of: "--homedir"), flag + 1 < arguments.count else { continue }
            let home = arguments[flag + 1]
            guard Self.bases.contains(where: { home.hasPrefix($0 + "/" + prefix) && !home.dropFirst($0.count + 1).contains("/") }) else { continue }
            var info = stat()
            guard stat("/proc/\(entry)", &info) == 0, info.st_uid == geteuid() else { continue }
            let orphaned: Bool
            if let owner = try? FileTree.readFile(home + "/" + ownerFile, limit: 256) {
                let identity = String(decoding: owner, as: UTF8.self)
                let ownerPID = identity.split(separator: " ").first.flatMap { Int32($0) }
                orphaned = ownerPID.map { processIdentity($0) != identity } ?? true
            } else {
                orphaned = (try? FileStatus.of(home)) == nil
            }
            if orphaned { kill(pid, SIGKILL) }
        }
    }

    /// Stops the agent GPGME started for `home` (it would otherwise outlive us).
    static func stopAgent(home: String) {
        // posix_spawn and waitpid, not Foundation's `Process`: that one watches the child through
        // libdispatch, and a job's thread runs this at a lowered priority; the dispatch threads it
        // made kept that priority and later ran the API's requests (issue 23).
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let arguments = ["/usr/bin/gpgconf", "--homedir", home, "--kill", "gpg-agent"]
        var pid: pid_t = 0
        let spawned = withCStrings(arguments) { argv in
            posix_spawn(&pid, "/usr/bin/gpgconf", &actions, nil, argv, environ)
        }
        // No gpgconf: nothing more we can do; the agent exits when its home disappears.
        guard spawned == 0 else { return }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // gpgconf only asks the agent to stop; it removes its socket as it exits. Wait for that (a
        // second at most), so the home is not removed under a still running agent.
        for _ in 0..<40 where (try? FileStatus.of(home + "/S.gpg-agent")) != nil {
            usleep(25_000)
        }
    }

    /// Calls `body` with `strings` as a NULL-terminated array of C strings.
    private static func withCStrings<Result>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> Result) -> Result {
        var pointers = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}
