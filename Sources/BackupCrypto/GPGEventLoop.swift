import BackupCore
import BackupModel
import BackupPOSIX
import CGPGME
import Glibc

/// Runs one GPGME operation's I/O on the calling thread through user I/O callbacks
/// (`gpgme_set_io_cbs`). Two things GPGME's own loop cannot do:
///
/// - **Hold the input back** while gpg's status lines and passphrase request are answered. GPGME's
///   loop calls an input's read callback as soon as gpg's stdin is writable, which is at once, and
///   answers the passphrase request from the same loop: an input that waits in its read callback
///   holds the key derivation back with it. This loop does not poll the held descriptors at all
///   until `run(holdingInputUntil:)`'s condition says so. A held descriptor is one GPGME writes to
///   and registered before it signalled `GPGME_EVENT_START`: the operation's data input (gpg's
///   command descriptor, through which the passphrase goes, is registered later, when gpg asks).
/// - **Move the data itself.** GPGME 1.18 formats every byte it passes between gpg and the data
///   objects for a debug trace it never prints (`_gpgme_debug_trace()` is defined as 1): ~15% of a
///   restore's CPU in each direction. The data input descriptor (above) is written by this loop from
///   the input's source from its first byte; gpg's output is the descriptor whose first GPGME handler
///   call wrote to the output data object, and this loop reads it straight into the same sink from
///   then on. The end of either, or an error on it, still goes through GPGME's handler, which meets
///   it again (a source at its end stays there, a pipe's end stays, a closed pipe stays closed) and
///   closes the descriptor its own way; gpg's status, and so the operation's verdict (a wrong
///   passphrase, a failed integrity check, a truncated message), stays GPGME's.
///
/// One operation per loop; GPGME calls back only from within `gpgme_op_*_start` and this loop's
/// handlers, all on the calling thread.
final class GPGEventLoop {
    /// One descriptor GPGME asked to be watched; its address is the tag GPGME hands back to remove it.
    final class Registration {
        enum Role {
            /// Its handler has not run yet.
            case unknown
            /// Left to GPGME's handler: gpg's status or command descriptor, or data at its end.
            case gpgme
            /// gpg's input, written by the loop from the input's source.
            case dataInput
            /// gpg's output, read by the loop.
            case dataOutput
        }

        let descriptor: Int32
        /// Whether GPGME writes to it (a data input or gpg's command descriptor).
        let outbound: Bool
        let handler: @convention(c) (UnsafeMutableRawPointer?, Int32) -> gpgme_error_t
        let handlerData: UnsafeMutableRawPointer?
        /// Registered before the operation started.
        let initial: Bool
        var active = true
        var role = Role.unknown

        /// Written by GPGME and registered before the operation started: a data input.
        var heldInput: Bool { self.outbound && self.initial }

        init(descriptor: Int32, outbound: Bool, handler: @escaping @convention(c) (UnsafeMutableRawPointer?, Int32) -> gpgme_error_t, handlerData: UnsafeMutableRawPointer?, initial: Bool) {
            self.descriptor = descriptor
            self.outbound = outbound
            self.handler = handler
            self.handlerData = handlerData
            self.initial = initial
        }
    }

    private var registrations: [Registration] = []
    private var started = false
    /// The operation's outcome once GPGME signalled `GPGME_EVENT_DONE`.
    private var outcome: gpgme_error_t?
    /// The input data object's endpoint, whose source the loop writes to gpg.
    private let input: GPGDataStream.Endpoint?
    /// The output data object's endpoint, whose sink the loop writes gpg's output to.
    private let output: GPGDataStream.Endpoint?
    private var context: gpgme_ctx_t?
    /// What one read of gpg's output takes: a pipe's default capacity holds 64 KiB.
    private var buffer = [UInt8](repeating: 0, count: 256 << 10)
    /// Read from the input's source and not yet written to gpg: `pending[pendingStart..<pendingEnd]`.
    private var pending = [UInt8](repeating: 0, count: 256 << 10)
    private var pendingStart = 0
    private var pendingEnd = 0
    // GPGME keeps a pointer to this table while the context lives.
    private let callbacks: UnsafeMutablePointer<gpgme_io_cbs>

    /// A loop for one operation of the context it is installed on, whose input and output data
    /// objects are those of `input` and `output` (nil: GPGME moves that data itself).
    init(input: GPGDataStream.Endpoint?, output: GPGDataStream.Endpoint?) {
        self.input = input
        self.output = output
        self.callbacks = .allocate(capacity: 1)
        self.callbacks.initialize(to: gpgme_io_cbs(
            add: { data, descriptor, direction, handler, handlerData, tag in
                guard let data, let handler, let tag else { return cgpgme_error_canceled() }
                let loop = Unmanaged<GPGEventLoop>.fromOpaque(data).takeUnretainedValue()
                // GPGME's `dir`: 1 when it reads the descriptor, 0 when it writes it.
                let registration = Registration(
                    descriptor: descriptor, outbound: direction == 0, handler: handler, handlerData: handlerData, initial: !loop.started)
                if registration.heldInput, loop.input?.source != nil {
                    // Written without blocking: a full pipe must not stop the loop reading gpg's output.
                    let flags = fcntl(descriptor, F_GETFL)
                    if flags >= 0 && fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 { registration.role = .dataInput }
                }
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

    deinit {
        self.callbacks.deinitialize(count: 1)
        self.callbacks.deallocate()
    }

    /// Makes `context`'s next operation run through this loop. GPGME hands the loop's tags (its
    /// registrations) back until the context is released: `context` must not outlive the loop.
    func install(on context: gpgme_ctx_t) {
        self.context = context
        gpgme_set_io_cbs(context, self.callbacks)
    }

    /// Runs the started operation to its end and returns its outcome (0 on success). Its data input
    /// is not written to until `release()` returns true, which is asked every 10 ms until it does.
    func run(holdingInputUntil release: () -> Bool = { true }) -> gpgme_error_t {
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
                self.serve(registration)
                if self.outcome != nil { break }
            }
            if !released { released = release() }
        }
        return self.outcome ?? 0
    }

    /// Serves one ready descriptor. GPGME's handler reports a failure by cancelling the operation:
    /// `outcome` then says it.
    private func serve(_ registration: Registration) {
        switch registration.role {
        case .dataInput:
            if self.feed(registration) { return }
        case .dataOutput:
            if self.drain(registration) { return }
        case .unknown, .gpgme:
            break
        }
        // The end, or an error: GPGME's handler meets it again and closes the descriptor.
        if registration.role == .dataInput { registration.role = .gpgme }
        let writesBefore = self.output?.writes ?? 0
        _ = registration.handler(registration.handlerData, registration.descriptor)
        if registration.role == .unknown {
            let wroteOutput = (self.output?.writes ?? 0) > writesBefore
            registration.role = !registration.outbound && registration.initial && wroteOutput ? .dataOutput : .gpgme
        }
    }

    /// Writes the input's next bytes to gpg; false at the input's end or when gpg stopped reading
    /// (it says why on its status), which GPGME's handler then meets.
    private func feed(_ registration: Registration) -> Bool {
        guard let input = self.input, let source = input.source else { return false }
        if self.pendingStart == self.pendingEnd {
            let count: Int
            do {
                count = try self.pending.withUnsafeMutableBytes { try source.read(into: $0) }
            } catch {
                // As GPGME's handler does with a failed read: the operation ends, the error is ours.
                input.error = input.error ?? error
                self.cancel()
                return true
            }
            guard count > 0 else { return false }
            self.pendingStart = 0
            self.pendingEnd = count
        }
        let written = self.pending.withUnsafeBytes {
            write(registration.descriptor, $0.baseAddress! + self.pendingStart, self.pendingEnd - self.pendingStart)
        }
        if written > 0 {
            self.pendingStart += written
            return true
        }
        if written < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        // gpg closed its input: what is pending goes nowhere, as it would through GPGME.
        self.pendingStart = self.pendingEnd
        return false
    }

    /// Reads gpg's next output into the output's sink; false at its end or on an error of the pipe.
    private func drain(_ registration: Registration) -> Bool {
        guard let output = self.output, let sink = output.sink else { return false }
        let count = self.buffer.withUnsafeMutableBytes { read(registration.descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            do {
                try self.buffer.withUnsafeBytes { try sink.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            } catch {
                // As GPGME's handler does with a failed write: the operation ends, the error is ours.
                output.error = output.error ?? error
                self.cancel()
            }
            return true
        }
        return count < 0 && errno == EINTR
    }

    /// Ends the operation (GPGME then signals `GPGME_EVENT_DONE`).
    private func cancel() {
        if let context = self.context { _ = gpgme_cancel(context) }
        if self.outcome == nil { self.outcome = cgpgme_error_canceled() }
    }
}
