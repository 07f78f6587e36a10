import Foundation

/// Makes a cipher's private GnuPG home on first use and hands the same one to every later operation;
/// the home, and the gpg-agent GPGME started in it, go when the last copy of the cipher does.
final class GPGHomeProvider: @unchecked Sendable {
    private let lock = NSLock()
    private var made: GPGHome?
    private let compress: Bool
    private let inMemory: Bool

    init(compress: Bool, inMemory: Bool = false) {
        self.compress = compress
        self.inMemory = inMemory
    }

    /// Stops the agent and removes the home now (the next operation makes a new one).
    func close() {
        let home = self.lock.withLock { () -> GPGHome? in
            defer { self.made = nil }
            return self.made
        }
        home?.close()
    }

    /// The home, made now if this is the first operation.
    func home() throws -> GPGHome {
        try self.lock.withLock {
            if let made = self.made { return made }
            let home = try GPGHome(compress: self.compress, inMemory: self.inMemory)
            self.made = home
            return home
        }
    }
}
