import BackupModel
import Foundation

/// The input of an encryption started before that input exists.
///
/// A backup's index names every component's ciphertext digest, so it exists only once the last
/// component is stored; its encryption then spent a whole S2K derivation at the maximum count
/// (~0.15 s of one core) on the backup's critical path. The backup now starts that encryption with
/// the job, through `PayloadCipher.encrypt(deferred:to:passphrase:)`, and provides the index when it
/// is ready: a cipher that can (GPGME's) takes the passphrase and derives the key at once and holds
/// gpg's input back until then. `abandon(_:)` ends an encryption whose input will never come (the
/// backup failed): its read fails with that error.
///
/// Safe from any thread.
public final class DeferredInput: @unchecked Sendable {
    private enum State {
        case pending
        case provided([UInt8])
        case abandoned(BackupError)
    }

    private let condition = NSCondition()
    private var state = State.pending
    private var keyed = false

    public init() {}

    /// Provides the input. No effect once provided or abandoned.
    public func provide(_ bytes: [UInt8]) {
        self.settle(.provided(bytes))
    }

    /// Makes the encryption's read fail with `error`. No effect once provided or abandoned.
    public func abandon(_ error: BackupError) {
        self.settle(.abandoned(error))
    }

    /// True once `provide(_:)` or `abandon(_:)` has decided the input.
    public var isDecided: Bool {
        self.condition.withLock {
            if case .pending = self.state { return false }
            return true
        }
    }

    /// Called by a cipher once it has handed the passphrase over while the input was still pending:
    /// the key is being derived ahead of the input.
    public func noteKeyedAhead() {
        self.condition.withLock {
            if case .pending = self.state { self.keyed = true }
            self.condition.broadcast()
        }
    }

    /// Whether the cipher took the passphrase before the input was decided.
    public var wasKeyedAhead: Bool {
        self.condition.withLock { self.keyed }
    }

    /// Waits until the cipher took the passphrase ahead of the input, for at most `timeout` seconds;
    /// false when it did not (a cipher that derives only once it has the input never does).
    public func waitUntilKeyedAhead(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        return self.condition.withLock {
            while !self.keyed {
                if !self.condition.wait(until: deadline) { return self.keyed }
            }
            return true
        }
    }

    /// Blocks until the input is decided; returns it, or throws the abandonment's error.
    public func wait() throws -> [UInt8] {
        self.condition.lock()
        defer { self.condition.unlock() }
        while true {
            switch self.state {
            case .pending: self.condition.wait()
            case .provided(let bytes): return bytes
            case .abandoned(let error): throw error
            }
        }
    }

    /// A source that waits for the input at its first read, then serves it.
    public func source() -> any ByteSource {
        DeferredInputSource(self)
    }

    private func settle(_ decision: State) {
        self.condition.withLock {
            guard case .pending = self.state else { return }
            self.state = decision
            self.condition.broadcast()
        }
    }
}

/// Serves a `DeferredInput`, waiting for it at the first read.
package final class DeferredInputSource: ByteSource {
    private let input: DeferredInput
    private var served: MemoryByteSource?

    package init(_ input: DeferredInput) {
        self.input = input
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let served = try self.served ?? MemoryByteSource(Data(self.input.wait()))
        self.served = served
        return try served.read(into: buffer)
    }
}
