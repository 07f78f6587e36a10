import BackupCore
import BackupModel
import BackupPOSIX
import CGPGME
import Glibc

/// A `gpgme_data_t` that reads from a `ByteSource` or writes to a `ByteSink` through callbacks, so
/// data streams through GPGME without being held in memory. Owns the C object and frees it.
final class GPGDataStream {
    /// What the callbacks reach through their `void *` handle.
    final class Endpoint {
        let source: (any ByteSource)?
        let sink: (any ByteSink)?
        /// The first Swift error a callback hit; GPGME only sees `errno`.
        var error: (any Error)?
        /// How many times GPGME called the write callback (how `GPGEventLoop` tells the data output
        /// descriptor from gpg's status descriptor).
        var writes = 0

        init(source: (any ByteSource)?, sink: (any ByteSink)?) {
            self.source = source
            self.sink = sink
        }
    }

    private(set) var handle: gpgme_data_t?
    let endpoint: Endpoint
    // GPGME keeps a pointer to this table: it must live as long as the data object.
    private let callbacks: UnsafeMutablePointer<gpgme_data_cbs>

    /// A data object GPGME reads from.
    convenience init(source: any ByteSource) throws {
        try self.init(endpoint: Endpoint(source: source, sink: nil))
    }

    /// A data object GPGME writes to.
    convenience init(sink: any ByteSink) throws {
        try self.init(endpoint: Endpoint(source: nil, sink: sink))
    }

    private init(endpoint: Endpoint) throws {
        self.endpoint = endpoint
        self.callbacks = .allocate(capacity: 1)
        self.callbacks.initialize(to: gpgme_data_cbs(
            read: { handle, buffer, size in
                guard let handle, let buffer else { return -1 }
                let endpoint = Unmanaged<Endpoint>.fromOpaque(handle).takeUnretainedValue()
                guard let source = endpoint.source else { errno = EBADF; return -1 }
                do {
                    return try source.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size))
                } catch {
                    endpoint.error = endpoint.error ?? error
                    errno = EIO
                    return -1
                }
            },
            write: { handle, buffer, size in
                guard let handle, let buffer else { return -1 }
                let endpoint = Unmanaged<Endpoint>.fromOpaque(handle).takeUnretainedValue()
                guard let sink = endpoint.sink else { errno = EBADF; return -1 }
                endpoint.writes += 1
                do {
                    try sink.write(UnsafeRawBufferPointer(start: buffer, count: size))
                    return size
                } catch {
                    endpoint.error = endpoint.error ?? error
                    errno = EIO
                    return -1
                }
            },
            seek: nil,
            release: nil))
        // GPGME refuses data objects until its version check ran.
        _ = GPGME.version
        var handle: gpgme_data_t?
        let status = gpgme_data_new_from_cbs(&handle, self.callbacks, Unmanaged.passUnretained(endpoint).toOpaque())
        // Every stored property is set, so `deinit` runs when this throws, and frees the table.
        guard status == 0 else { throw GPGME.error(status, "gpgme_data_new_from_cbs") }
        self.handle = handle
        // GPGME copies between gpg's pipe and these callbacks 4 KiB at a time, one trip through its
        // event loop each. 64 KiB (a pipe's default capacity) was measured best: restoring a 256 MiB
        // component took 1.29-1.33 s instead of 1.52-1.58 s; 256 KiB (1.81-1.89 s) and 1 MiB were
        // slower than 4 KiB. A GPGME without the flag keeps its 4 KiB.
        _ = gpgme_data_set_flag(handle, "io-buffer-size", "65536")
    }

    deinit {
        if let handle = self.handle { gpgme_data_release(handle) }
        self.callbacks.deinitialize(count: 1)
        self.callbacks.deallocate()
    }
}
