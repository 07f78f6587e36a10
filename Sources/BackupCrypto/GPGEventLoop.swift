import BackupCore
import CGPGME
#if canImport(Glibc)
import Glibc
#endif

/// Runs one GPGME operation's I/O on the calling thread through user I/O callbacks
/// (`gpgme_set_io_cbs`), so that it can hold back the data GPGME feeds to gpg while it keeps
/// answering gpg's status lines and its passphrase request.
///
/// GPGME's own loop calls an input's read callback as soon as gpg's stdin is writable, which is at
/// once, and answers gpg's passphrase request from the same loop: an input that waits in its read
/// callback holds the passphrase, and so the key derivation, back with it. This loop does not poll
/// the held descriptors at all until `run(holdingInputUntil:)`'s condition says so. A held descriptor
/// is one GPGME writes to and registered before it signalled `GPGME_EVENT_START`: the operation's
/// data inputs (gpg's command descriptor, through which the passphrase goes, is registered later,
/// when gpg asks).
///
/// One operation per loop; GPGME calls back only from within `gpgme_op_*_start` and this loop's
/// handlers, all on the calling thread.
final class GPGEventLoop {
    /// One descriptor GPGME asked to be watched; its address is the tag GPGME hands back to remove it.
    final class Registration {
        let descriptor: Int32
        /// Whether GPGME writes to it (a data input or gpg's command descriptor).
        let outbound: Bool
        let handler: @convention(c) (UnsafeMutableRawPointer?, Int32) -> gpgme_error_t
        let handlerData: UnsafeMutableRawPointer?
        /// Registered before the operation started and written by GPGME: a data input.
        let heldInput: Bool
        var active = true

        init(descriptor: Int32, outbound: Bool, handler: @escaping @convention(c) (UnsafeMutableRawPointer?, Int32) -> gpgme_error_t, handlerData: UnsafeMutableRawPointer?, heldInput: Bool) {
            self.descriptor = descriptor
            self.outbound = outbound
            self.handler = handler
            self.handlerData = handlerData
            self.heldInput = heldInput
        }
    }

    private var registrations: [Registration] = []
    private var started = false
    /// The operation's outcome once GPGME signalled `GPGME_EVENT_DONE`.
    private var outcome: gpgme_error_t?
    // GPGME keeps a pointer to this table while the context lives.
    private let callbacks: UnsafeMutablePointer<gpgme_io_cbs>

    /// A loop for one operation of the context it is installed on.
    init() {
        self.callbacks = .allocate(capacity: 1)
        self.callbacks.initialize(to: gpgme_io_cbs(
            add: { data, descriptor, direction, handler, handlerData, tag in
                guard let data, let handler, let tag else { return cgpgme_error_canceled() }
                let loop = Unmanaged<GPGEventLoop>.fromOpaque(data).takeUnretainedValue()
                // GPGME's `dir`: 1 when it reads the descriptor, 0 when it writes it.
                let registration = Registration(
                    descriptor: descriptor, outbound: direction == 0, handler: handler, handlerData: handlerData,
                    heldInput: direction == 0 && !loop.started)
                loop.registrations.append(registration)
                tag.pointee = Unmanaged.passUnretained(registration).toOpaque()
                return 0
            },
            add_priv: nil,
            remove: { tag in
                guard let tag else { return }
                Unmanaged<Registration>.fromOpaque(tag).takeUnretainedValue().active = false
            },
            event: { data, type, typeData in
                guard let data else { return }
                let loop = Unmanaged<GPGEventLoop>.fromOpaque(data).takeUnretainedValue()
                switch type {
                case GPGME_EVENT_START:
                    loop.started = true
                case GPGME_EVENT_DONE:
                    let done = typeData?.assumingMemoryBound(to: gpgme_io_event_done_data.self).pointee
                    loop.outcome = done.map { $0.err != 0 ? $0.err : $0.op_err } ?? 0
                default:
                    break
                }
            },
            event_priv: nil))
        let this = Unmanaged.passUnretained(self).toOpaque()
        self.callbacks.pointee.add_priv = this
        self.callbacks.pointee.event_priv = this
    }

    /// Makes `context`'s next operation run through this loop. GPGME hands the loop's tags (its
    /// registrations) back until the context is released: `context` must not outlive the loop.
    func install(on context: gpgme_ctx_t) {
        gpgme_set_io_cbs(context, self.callbacks)
    }

    deinit {
        self.callbacks.deinitialize(count: 1)
        self.callbacks.deallocate()
    }

    /// Runs the started operation to its end and returns its outcome (0 on success). Its data inputs
    /// are not written to until `release()` returns true, which is asked every 10 ms until it does.
    func run(holdingInputUntil release: () -> Bool) -> gpgme_error_t {
        var released = release()
        while self.outcome == nil {
            // Registrations live as long as the loop: dropping removed ones keeps the scan short.
            self.registrations.removeAll { !$0.active }
            let watched = self.registrations.filter { released || !$0.heldInput }
            if watched.isEmpty && released {
                // Every descriptor is gone but GPGME said nothing: not reached with GPGME 1.18.
                return cgpgme_error_general()
            }
            var descriptors = watched.map { pollfd(fd: $0.descriptor, events: Int16($0.outbound ? POLLOUT : POLLIN), revents: 0) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), released ? 1_000 : 10)
            if ready < 0 {
                if errno == EINTR { continue }
                return cgpgme_error_from_errno(errno)
            }
            for (registration, polled) in zip(watched, descriptors) where polled.revents != 0 && registration.active {
                // GPGME's handler reports a failure by cancelling the operation: `outcome` then says it.
                _ = registration.handler(registration.handlerData, registration.descriptor)
                if self.outcome != nil { break }
            }
            if !released { released = release() }
        }
        return self.outcome ?? 0
    }
}
