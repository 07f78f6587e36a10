public import BackupCore
public import BackupModel
public import BackupPOSIX
import Foundation
import Glibc

/// Backups on a remote host over SFTP, with the same layout and atomic commit as `LocalBackupStore`:
/// written under `.partial-NAME`, `manifest.json` last, then renamed to `NAME`.
///
/// One connection, opened on first use and reopened after a failure; calls are serialised.
public final class SFTPBackupStore: BackupStore, @unchecked Sendable {
    public let endpoint: SSHEndpoint
    /// The backup path; relative paths are relative to the remote user's home.
    public let path: String
    /// Held for every call on the session (libssh2 allows one thread at a time). Recursive: a
    /// stream released inside a locked call closes its handle under the same lock.
    private let lock = NSRecursiveLock()
    private var client: SFTPClient?
    private var keepaliveStarted = false
    private var sentKeepalives = 0
    /// Guards the two below; never held across a call on the session (`interrupt` must not wait).
    private let interruption = NSLock()
    /// Why the store was interrupted, once it was: every later call is refused.
    private var interruptedReason: String?
    /// A duplicate of the current connection's socket, for `interrupt` to shut down.
    private var interruptSocket: Int32 = -1

    public init(endpoint: SSHEndpoint, path: String) {
        self.endpoint = endpoint
        self.path = path.isEmpty ? "." : path
    }

    /// Escaped: the user, host and path may come from a request and reach log lines and status.
    public var displayName: String { "sftp \(SafeText.escaped(self.endpoint.username, limit: 256))@\(SafeText.escaped(self.endpoint.host, limit: 256)):\(self.endpoint.port):\(SafeText.escaped(self.path, limit: 1000))" }

    public func location(of backup: String) -> String { self.path + "/" + backup }

    deinit {
        if self.interruptSocket >= 0 { Glibc.close(self.interruptSocket) }
    }

    /// Shuts the connection's socket down: a call blocked on it fails at once, and every later call is
    /// refused with `.interrupted`.
    public func interrupt(reason: String) {
        self.interruption.withLock {
            if self.interruptedReason == nil { self.interruptedReason = reason }
            if self.interruptSocket >= 0 { shutdown(self.interruptSocket, Int32(SHUT_RDWR)) }
        }
    }

    /// Throws once the store was interrupted.
    func checkNotInterrupted() throws {
        if let reason = self.interruption.withLock({ self.interruptedReason }) {
            throw BackupError(.interrupted, "interrupted: \(reason)")
        }
    }

    /// Runs `body` with a connected client; a failed call drops the connection so the next reconnects.
    func withClient<T>(_ body: (SFTPClient) throws -> T) throws -> T {
        try self.lock.withLock {
            try self.checkNotInterrupted()
            let client: SFTPClient
            if let existing = self.client {
                client = existing
            } else {
                client = try SFTPClient(self.endpoint)
                let socket = client.session.duplicateSocket()
                let interrupted = self.interruption.withLock { () -> Bool in
                    if self.interruptSocket >= 0 { Glibc.close(self.interruptSocket) }
                    self.interruptSocket = socket
                    return self.interruptedReason != nil
                }
                // Interrupted while connecting: the new connection is not used.
                if interrupted { shutdown(socket, Int32(SHUT_RDWR)) }
                try self.checkNotInterrupted()
            }
            self.client = client
            self.startKeepaliveIfNeeded()
            do {
                return try body(client)
            } catch let error as BackupError where error.code == .connection {
                self.client = nil
                try self.checkNotInterrupted()
                throw error
            }
        }
    }

    /// Runs `body` on the connection a transfer started on: after a reconnect, a handle of the old
    /// connection is gone, and the transfer fails rather than read a stale handle on a new session.
    func withSameClient<T>(_ client: SFTPClient, _ body: () throws -> T) throws -> T {
        try self.lock.withLock {
            guard self.client === client else {
                throw BackupError(.connection, "the connection to \(self.endpoint.host) was lost during the transfer")
            }
            try self.checkNotInterrupted()
            let result: T
            do {
                result = try body()
            } catch let error as BackupError where error.code == .connection {
                self.client = nil
                try self.checkNotInterrupted()
                throw error
            }
            // A socket shut down under a read can look like the end of the file: after an
            // interrupt, nothing a call returned is believed.
            try self.checkNotInterrupted()
            return result
        }
    }

    /// Closes an abandoned stream's handle under the lock: with components transferred at once, a
    /// stream let go on one thread must not use the session while another thread does.
    func closeLocked(_ stream: SFTPFileStream) {
        self.lock.withLock { stream.close() }
    }

    /// Keepalives sent so far (for tests and diagnostics).
    public var keepalivesSent: Int { self.lock.withLock { self.sentKeepalives } }

    /// Starts, once, a thread that sends a keepalive whenever the connection has been idle for
    /// `keepaliveSeconds`: it only takes the lock when nobody holds it, so it never delays a transfer
    /// (which keeps the connection alive by itself). It ends with the store. Called with the lock held.
    private func startKeepaliveIfNeeded() {
        guard !self.keepaliveStarted, self.endpoint.keepaliveSeconds > 0 else { return }
        self.keepaliveStarted = true
        let interval = self.endpoint.keepaliveSeconds
        Thread.detachNewThread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: interval)
                guard let store = self else { return }
                store.keepaliveIfIdle()
            }
        }
    }

    private func keepaliveIfIdle() {
        guard self.lock.try() else { return }
        defer { self.lock.unlock() }
        guard let client = self.client else { return }
        do {
            try client.session.sendKeepalive()
            self.sentKeepalives += 1
        } catch {
            // The connection is gone: the next call reconnects and reports what it finds.
            self.client = nil
        }
    }

    /// Closes the connection now; the store stays usable (the next call reconnects).
    public func close() {
        self.disconnect()
    }

    /// Closes the connection (the next call reconnects).
    public func disconnect() {
        self.lock.withLock { self.client = nil }
    }

    public func listEntries() throws -> [StoredEntry] {
        try self.withClient { client in
            guard let root = try client.stat(self.path) else {
                throw BackupError(.notFound, "backup path \(self.path) does not exist on \(self.endpoint.host)")
            }
            guard root.isDirectory else { throw BackupError(.notFound, "backup path \(self.path) on \(self.endpoint.host) is not a directory") }
            return try client.list(self.path).map { entry in
                if let kind = StoredEntry.hiddenKind(of: entry.name) { return StoredEntry(name: entry.name, kind: kind, modified: entry.modified) }
                guard entry.isDirectory else { return StoredEntry(name: entry.name, kind: .foreign, modified: entry.modified) }
                var index = try client.stat(self.path + "/" + entry.name + "/" + BackupIndex.fileName)
                if index == nil {
                    // A rotation between removing the old plain manifest and renaming the new one into place.
                    index = try client.stat(self.path + "/" + entry.name + "/" + BackupIndex.pendingFileName)
                }
                return StoredEntry(name: entry.name, kind: index?.isRegularFile == true ? .complete : .incomplete, modified: entry.modified)
            }
        }
    }

    public func beginBackup(name: String) throws -> any BackupWriter {
        try self.withClient { client in
            try client.makeDirectories(self.path)
            let final = self.location(of: name)
            if try client.stat(final) != nil { throw BackupError(.storage, "\(final) already exists on \(self.endpoint.host)") }
            let temporary = self.path + "/" + StoredEntry.temporaryPrefix + name
            try client.removeTree(temporary)
            try client.makeDirectories(temporary)
            return SFTPBackupWriter(store: self, temporary: temporary, final: final)
        }
    }

    public func readIndex(backup: String) throws -> [UInt8] {
        try self.withClient { client in
            var path = self.location(of: backup) + "/" + BackupIndex.fileName
            if try client.stat(path) == nil, try client.stat(self.location(of: backup) + "/" + BackupIndex.pendingFileName) != nil {
                // A rotation between removing the old plain manifest and renaming the new one into place.
                path = self.location(of: backup) + "/" + BackupIndex.pendingFileName
            }
            // Through the transfer's deadline: a manifest that drips holds nothing past it.
            let stream = LimitedSource(LockedSource(store: self, client: client, stream: try self.openRegular(client, path, backup: backup)), limit: UInt64(SealedIndex.sizeLimit) + 1)
            let sink = ByteCollector(limit: SealedIndex.sizeLimit)
            _ = try stream.copy(to: sink)
            return sink.bytes
        }
    }

    public func deleteBackup(name: String) throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw BackupError(.invalidInput, "'\(SafeText.escaped(name))' is not a backup name")
        }
        let hidden = self.path + "/" + StoredEntry.deletingPrefix + name
        try self.withClient { client in
            if try client.stat(self.location(of: name)) != nil {
                try client.rename(self.location(of: name), to: hidden)
            }
            try client.removeTree(hidden)
        }
    }

    public func removeLeftover(entry: String) throws {
        guard StoredEntry.hiddenKind(of: entry) == .temporary, !entry.contains("/") else { return }
        try self.withClient { client in try client.removeTree(self.path + "/" + entry) }
    }

    public func createFile(backup: String, file: String) throws -> any ByteSink {
        try Self.checkFileName(file, backup: backup)
        let path = self.location(of: backup) + "/" + file
        return try self.withClient { client in
            // Created anew (exclusive): never written through a link planted under the name.
            if try client.stat(path) != nil { try client.removeTree(path) }
            return LockedSink(store: self, client: client, stream: try client.create(path))
        }
    }

    public func removeFile(backup: String, file: String) throws {
        try Self.checkFileName(file, backup: backup)
        let path = self.location(of: backup) + "/" + file
        try self.withClient { client in
            guard let entry = try client.stat(path) else { return }
            guard !entry.isDirectory else { throw BackupError(.storage, "\(SafeText.escaped(file)) in backup \(SafeText.escaped(backup)) on \(self.endpoint.host) is a directory; not removed") }
            try client.removeTree(path)
        }
    }

    public func renameFile(backup: String, file: String, to newName: String) throws {
        try Self.checkFileName(file, backup: backup)
        try Self.checkFileName(newName, backup: backup)
        try self.withClient { client in try client.rename(self.location(of: backup) + "/" + file, to: self.location(of: backup) + "/" + newName) }
    }

    public func fileNames(backup: String) throws -> [String] {
        try Self.checkFileName(BackupIndex.fileName, backup: backup)
        return try self.withClient { client in try client.list(self.location(of: backup)).map(\.name).filter { $0 != "." && $0 != ".." } }
    }

    public func openComponent(backup: String, file: String) throws -> any ByteSource {
        let path = self.location(of: backup) + "/" + file
        return try self.withClient { client in
            LockedSource(store: self, client: client, stream: try self.openRegular(client, path, backup: backup))
        }
    }

    public func sizeOfComponent(backup: String, file: String) throws -> UInt64 {
        let path = self.location(of: backup) + "/" + file
        return try self.withClient { client in
            guard let entry = try client.stat(path) else {
                throw BackupError(.notFound, "\(file) is missing from backup \(SafeText.escaped(backup)) on \(self.endpoint.host)")
            }
            guard entry.isRegularFile else {
                throw BackupError(.corrupted, "\(file) in backup \(SafeText.escaped(backup)) on \(self.endpoint.host) is not a regular file")
            }
            return entry.size
        }
    }

    /// Opens a file of a backup that the server says is a regular file (lstat: a symlink is refused).
    /// Reads are bounded by the caller to the recorded size, whatever the server claims later.
    private func openRegular(_ client: SFTPClient, _ path: String, backup: String) throws -> SFTPFileStream {
        let file = SafeText.escaped((path as NSString).lastPathComponent)
        guard let entry = try client.stat(path) else {
            throw BackupError(.notFound, "\(file) is missing from backup \(SafeText.escaped(backup)) on \(self.endpoint.host)")
        }
        guard entry.isRegularFile else {
            throw BackupError(.corrupted, "\(file) in backup \(SafeText.escaped(backup)) on \(self.endpoint.host) is not a regular file; refusing it")
        }
        return try client.openForReading(path)
    }
}

/// A remote backup being written.
final class SFTPBackupWriter: BackupWriter, @unchecked Sendable {
    private let store: SFTPBackupStore
    private let temporary: String
    private let final: String

    init(store: SFTPBackupStore, temporary: String, final: String) {
        self.store = store
        self.temporary = temporary
        self.final = final
    }

    func createComponent(file: String) throws -> any ByteSink {
        try self.store.withClient { client in LockedSink(store: self.store, client: client, stream: try client.create(self.temporary + "/" + file)) }
    }

    func commit(index: [UInt8]) throws {
        try self.store.withClient { client in
            let staged = self.temporary + "/" + BackupIndex.fileName + ".tmp"
            let stream = try client.create(staged)
            try index.withUnsafeBytes { try stream.write($0) }
            try stream.finish()
            try client.rename(staged, to: self.temporary + "/" + BackupIndex.fileName)
            try client.rename(self.temporary, to: self.final)
        }
    }

    func abort() {
        // Best effort: over a dropped connection this fails, and restore ignores `.partial-` anyway.
        try? self.store.withClient { client in try client.removeTree(self.temporary) }
    }
}

/// A remote file stream whose calls hold the store's lock, so the connection is used by one at a
/// time; bound to the connection it was opened on and to the transfer deadline.
final class LockedSink: ByteSink {
    let transfer: Transfer
    let stream: SFTPFileStream
    init(store: SFTPBackupStore, client: SFTPClient, stream: SFTPFileStream) {
        self.transfer = Transfer(store: store, client: client)
        self.stream = stream
    }
    deinit { self.transfer.store.closeLocked(self.stream) }
    func write(_ bytes: UnsafeRawBufferPointer) throws { try self.transfer.run { try self.stream.write(bytes) } }
    func finish() throws { try self.transfer.run { try self.stream.finish() } }
}

/// See `LockedSink`.
final class LockedSource: ByteSource {
    let transfer: Transfer
    let stream: SFTPFileStream
    init(store: SFTPBackupStore, client: SFTPClient, stream: SFTPFileStream) {
        self.transfer = Transfer(store: store, client: client)
        self.stream = stream
    }
    deinit { self.transfer.store.closeLocked(self.stream) }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try self.transfer.run { try self.stream.read(into: buffer) } }
}

/// One file transfer: its connection and its deadline.
struct Transfer {
    let store: SFTPBackupStore
    let client: SFTPClient
    let deadline: ContinuousClock.Instant

    init(store: SFTPBackupStore, client: SFTPClient) {
        self.store = store
        self.client = client
        let seconds = store.endpoint.transferDeadlineSeconds
        self.deadline = .now + .milliseconds(Int64(seconds.isFinite ? min(max(seconds, 0), 1e9) * 1000 : 1e12))
    }

    func run<T>(_ body: () throws -> T) throws -> T {
        guard ContinuousClock.now < self.deadline else {
            throw BackupError(.connection, "a transfer with \(self.store.endpoint.host) took longer than its deadline of \(Int(self.store.endpoint.transferDeadlineSeconds)) s: the server is stalled or far too slow")
        }
        return try self.store.withSameClient(self.client, body)
    }
}

/// Collects a small stream into memory, up to a limit.
final class ByteCollector: ByteSink {
    private(set) var bytes: [UInt8] = []
    private let limit: Int
    init(limit: Int) { self.limit = limit }
    func write(_ chunk: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: chunk)
        if self.bytes.count > self.limit { throw BackupError(.corrupted, "the file is larger than \(self.limit) bytes") }
    }
    func finish() throws {}
}
