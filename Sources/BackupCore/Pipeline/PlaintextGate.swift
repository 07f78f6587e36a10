import Foundation

/// Holds a decryption's plaintext back until what is being decrypted has been vouched for.
///
/// A restore starts decrypting its largest component while the backup's index is still being
/// authenticated, so that gpg derives that component's key (a second S2K at the maximum count) at the
/// same time as the index's. Until the index authenticates and names the very file, size and digest
/// the decryption was started with, nothing of the component's plaintext may go anywhere: the
/// decryption's output blocks at its first byte (gpg then stops at a full pipe). `open()` lets it
/// through; `refuse(_:)` makes the held write fail, so the decryption ends without its plaintext
/// having reached a decompressor, an extractor or the disk.
///
/// The ciphertext is held back only past a bound (`GatedSource`): GPGME answers gpg's passphrase
/// request in the same loop that reads its input, so holding the input from its first byte would hold
/// the key derivation as well.
/// Safe from any thread.
public final class PlaintextGate: @unchecked Sendable {
    private enum State {
        case closed
        case open
        case refused(BackupError)
    }

    private let condition = NSCondition()
    private var state = State.closed

    public init() {}

    /// Lets the plaintext through, now and later. No effect once refused.
    public func open() {
        self.settle(.open)
    }

    /// Makes every held and later write fail with `error`. No effect once open.
    public func refuse(_ error: BackupError) {
        self.settle(.refused(error))
    }

    /// True once `refuse(_:)` has decided the gate.
    public var isRefused: Bool {
        self.condition.withLock {
            if case .refused = self.state { return true }
            return false
        }
    }

    /// True once `open()` has decided the gate.
    public var isOpen: Bool {
        self.condition.withLock {
            if case .open = self.state { return true }
            return false
        }
    }

    /// Blocks until the gate is decided; throws the refusal's error.
    public func wait() throws {
        self.condition.lock()
        defer { self.condition.unlock() }
        while true {
            switch self.state {
            case .closed: self.condition.wait()
            case .open: return
            case .refused(let error): throw error
            }
        }
    }

    private func settle(_ decision: State) {
        self.condition.withLock {
            guard case .closed = self.state else { return }
            self.state = decision
            self.condition.broadcast()
        }
    }
}

/// A sink whose first write (or finish) waits for its gate; refused, it fails and passes nothing on.
final class GatedSink: ByteSink {
    private let downstream: any ByteSink
    private let gate: PlaintextGate
    private var passed = false

    init(_ downstream: any ByteSink, gate: PlaintextGate) {
        self.downstream = downstream
        self.gate = gate
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        try self.waitOnce()
        try self.downstream.write(bytes)
    }

    func finish() throws {
        try self.waitOnce()
        try self.downstream.finish()
    }

    private func waitOnce() throws {
        guard !self.passed else { return }
        try self.gate.wait()
        self.passed = true
    }
}

/// A source that reads no more than `unvouchedLimit` bytes before its gate is decided: past that it
/// waits for the gate, and once the gate is refused it fails with the refusal's error. Until the
/// index vouches for the file, its size is only what the plain manifest claims (a server may make the
/// file endless, and claim a terabyte); what is read of it must not depend on how long the index
/// takes to authenticate. The limit is far above what gpg reads before its key is derived (a pipe's
/// worth), so the key derivation is not held back.
final class GatedSource: ByteSource {
    /// What a decryption may read before its gate is decided.
    static let unvouchedLimit = 4 << 20

    private let upstream: any ByteSource
    private let gate: PlaintextGate
    private var readBeforeDecision = 0
    /// Set once the gate is open; a refusal has no effect after that.
    private var vouched = false

    init(_ upstream: any ByteSource, gate: PlaintextGate) {
        self.upstream = upstream
        self.gate = gate
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if !self.vouched {
            // Refused: throws. At the limit: waits, then throws or goes on vouched for.
            if self.gate.isRefused || self.readBeforeDecision >= Self.unvouchedLimit { try self.gate.wait() }
            self.vouched = self.gate.isOpen
        }
        if self.vouched { return try self.upstream.read(into: buffer) }
        // Never past the limit before the decision, whatever the buffer's size.
        let room = UnsafeMutableRawBufferPointer(rebasing: buffer.prefix(Self.unvouchedLimit - self.readBeforeDecision))
        let count = try self.upstream.read(into: room)
        self.readBeforeDecision += count
        return count
    }
}
