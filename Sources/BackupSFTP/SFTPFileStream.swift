import BackupCore
import BackupModel
import BackupPOSIX
import CSSH2

/// An open remote file as a `ByteSource` or `ByteSink`. Writes are gathered into 1 MiB requests:
/// libssh2 pipelines a large write into many SFTP packets, and small ones are several times slower.
final class SFTPFileStream: ByteSource, ByteSink {
    /// The size libssh2 is handed at a time.
    static let chunkSize = 1 << 20

    private let client: SFTPClient
    private var handle: OpaquePointer?
    private let path: String
    private var buffer: [UInt8] = []

    init(client: SFTPClient, handle: OpaquePointer, path: String) {
        self.client = client
        self.handle = handle
        self.path = path
    }

    deinit {
        self.close()
    }

    /// Closes the handle without a word (an abandoned read or write). The caller must hold the
    /// store's lock, as for every other call on the session: `LockedSink` and `LockedSource` do.
    func close() {
        if let handle { libssh2_sftp_close_handle(handle) }
        self.handle = nil
    }

    func read(into target: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let handle, let base = target.baseAddress else { return 0 }
        let count = libssh2_sftp_read(handle, base.assumingMemoryBound(to: CChar.self), target.count)
        guard count >= 0 else { throw self.client.error("read", self.path) }
        return count
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if self.buffer.isEmpty && bytes.count >= Self.chunkSize {
            try self.send(bytes)
            return
        }
        self.buffer.append(contentsOf: bytes)
        if self.buffer.count >= Self.chunkSize { try self.flush() }
    }

    func finish() throws {
        try self.flush()
        guard let handle else { return }
        // fsync@openssh.com makes the file durable before it is committed. Only a server without the
        // extension is excused; a server that has it and fails it has not stored the file.
        if libssh2_sftp_fsync(handle) != 0 {
            let (error, status) = self.client.failure("fsync", self.path)
            if status != .operationUnsupported {
                self.handle = nil
                libssh2_sftp_close_handle(handle)
                throw error
            }
        }
        self.handle = nil
        guard libssh2_sftp_close_handle(handle) == 0 else { throw self.client.error("close", self.path) }
    }

    private func flush() throws {
        guard !self.buffer.isEmpty else { return }
        try self.buffer.withUnsafeBytes { try self.send($0) }
        self.buffer.removeAll(keepingCapacity: true)
    }

    private func send(_ bytes: UnsafeRawBufferPointer) throws {
        guard let handle, var pointer = bytes.baseAddress?.assumingMemoryBound(to: CChar.self) else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = libssh2_sftp_write(handle, pointer, remaining)
            guard written > 0 else { throw self.client.error("write", self.path) }
            pointer += written
            remaining -= written
        }
    }
}
