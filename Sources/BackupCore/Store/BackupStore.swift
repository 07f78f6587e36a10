import BackupModel
import BackupPOSIX

/// Where backups live: a local directory or a remote host. Implementations: `LocalBackupStore`,
/// and the SFTP store in `BackupSFTP`. Methods block; call them off the cooperative pool.
public protocol BackupStore: Sendable {
    /// For messages: `local /mnt/data/flowgateway-backup`, `sftp mazu@host:path`.
    var displayName: String { get }
    /// The location of `backup` as the status reports it (`subdir`).
    func location(of backup: String) -> String
    /// Every entry under the backup path, classified.
    func listEntries() throws -> [StoredEntry]
    /// Starts a new backup called `name`, invisible until committed.
    func beginBackup(name: String) throws -> any BackupWriter
    /// Reads the `manifest.json` of a committed backup.
    func readIndex(backup: String) throws -> [UInt8]
    /// Opens a file of a committed backup (a component, or the authenticated index). It must be a
    /// regular file, reached without following a symlink; throws `.notFound` when it is missing.
    func openComponent(backup: String, file: String) throws -> any ByteSource
    /// The size of a regular file of a committed backup: after a commit, the store's copy is checked.
    func sizeOfComponent(backup: String, file: String) throws -> UInt64
    /// Deletes the committed backup `name`: renamed out of sight (`.deleting-<name>`) first, so it is
    /// never half a backup, then removed. Also finishes a deletion that was interrupted.
    func deleteBackup(name: String) throws
    /// Removes a hidden leftover entry (`.partial-…`, `.deleting-…`) by its full name.
    func removeLeftover(entry: String) throws
    /// Creates (or empties) `file` in the committed backup `backup` and returns it for writing: a
    /// rotation's new files (`BackupRekey`). Never through a symlink.
    func createFile(backup: String, file: String) throws -> any ByteSink
    /// Removes `file` of `backup`; nothing when it is not there.
    func removeFile(backup: String, file: String) throws
    /// Renames `file` of `backup` to `newName`, which must not exist.
    func renameFile(backup: String, file: String, to newName: String) throws
    /// The names of the entries in the directory of `backup`.
    func fileNames(backup: String) throws -> [String]
    /// Ends every call under way and refuses every later one with `.interrupted` (`reason` says why):
    /// a job past its deadline, or a server shutting down, must not wait on a store that stalls.
    /// Safe from any thread, while another thread is blocked in a call.
    func interrupt(reason: String)
    /// Closes any connection now, on this thread (a process must not exit while another thread still
    /// tears a TLS/SSH session down: the crypto library's exit handlers would race it).
    func close()
}

extension BackupStore {
    public func close() {}
    /// A local store's reads end on their own (regular files only, bounded by what was recorded).
    public func interrupt(reason: String) {}

    /// Runs `body`, which uses this store, within `seconds`: past them the store is interrupted, so a
    /// call it is stalling ends with `.interrupted` ("… longer than its deadline …"). Blocking.
    public func withinDeadline<T>(_ seconds: Double, _ body: () throws -> T) throws -> T {
        let stop = JobCancellation()
        stop.onCancel { reason in self.interrupt(reason: reason) }
        let timer = stop.stop(after: seconds)
        defer { timer.cancel() }
        return try body()
    }

    /// Throws unless `file` is a plain name a backup may hold (no path, no `.` or `..`).
    public static func checkFileName(_ file: String, backup: String) throws {
        guard !file.isEmpty, !file.contains("/"), file != ".", file != "..", !file.utf8.contains(0), !backup.isEmpty, !backup.contains("/"), !backup.hasPrefix(".") else {
            throw BackupError(.invalidInput, "'\(SafeText.escaped(file))' in '\(SafeText.escaped(backup))' is not a file of a backup")
        }
    }

    /// Opens the authenticated index of `backup`: `index.json.gpg`, or, while a rotation is committed
    /// but not finished, the new index that replaces it (`SealedIndex.pendingFileName`).
    public func openSealedIndex(backup: String) throws -> any ByteSource {
        do {
            return try self.openComponent(backup: backup, file: SealedIndex.fileName)
        } catch let error as BackupError where error.code == .notFound {
            do { return try self.openComponent(backup: backup, file: SealedIndex.pendingFileName) } catch let pending as BackupError where pending.code == .notFound {
                throw error
            }
        }
    }

    /// Reads a small file of `backup` (at most `limit` bytes) into memory.
    public func readSmallFile(backup: String, file: String, limit: Int = SealedIndex.sizeLimit) throws -> [UInt8] {
        let source = LimitedSource(try self.openComponent(backup: backup, file: file), limit: UInt64(limit))
        let sink = BoundedMemorySink(limit: limit, what: "\(SafeText.escaped(file)) of \(SafeText.escaped(backup))")
        _ = try source.copy(to: sink)
        if source.exceeded { throw BackupError(.corrupted, "\(SafeText.escaped(file)) of \(SafeText.escaped(backup)) is larger than \(limit) bytes") }
        return sink.bytes
    }

    /// The plain manifest of `backup` that agrees with its authenticated index: `manifest.json`
    /// (`first`, already read), or, while a rotation is unfinished, the new one beside it. Throws the
    /// disagreement when neither agrees.
    public func plainManifest(agreeingWith sealed: SealedIndex, backup: String, first: BackupIndex) throws -> BackupIndex {
        do {
            try sealed.check(agreesWith: first)
            return first
        } catch let disagreement {
            guard let bytes = try? self.readSmallFile(backup: backup, file: BackupIndex.pendingFileName),
                  let pending = try? BackupIndex.decode(bytes, backup: backup), (try? sealed.check(agreesWith: pending)) != nil
            else { throw disagreement }
            return pending
        }
    }

    /// Removes what an interrupted backup called `name` left (its `.partial-` directory), if anything.
    public func removeTemporary(name: String) throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else { return }
        try self.removeLeftover(entry: StoredEntry.temporaryPrefix + name)
    }
}

/// A backup being written. Nothing is visible under its final name until `commit`.
public protocol BackupWriter: AnyObject, Sendable {
    /// Creates a component file for writing.
    func createComponent(file: String) throws -> any ByteSink
    /// Writes `manifest.json` last and moves the backup to its final name.
    func commit(index: [UInt8]) throws
    /// Removes what was written, as far as the store still allows.
    func abort()
}
