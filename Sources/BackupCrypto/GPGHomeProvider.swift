import Foundation

/// Makes a cipher's private GnuPG home on first use and hands the same one to every later operation;
/// the home, and the gpg-agent GPGME started in it, go when the last copy of the cipher does.
final class GPGHomeProvider: @unchecked Sendable {
    private let lock = NSLock()
    private var made: GPGHome?
    private let compress: Bool

    init(compress: Bool) {
        self.compress = compress
    }

    /// The home, made now if this is the first operation.
    func home() throws -> GPGHome {
        try self.lock.withLock {
            if let made = self.made { return made }
            let home = try GPGHome(compress: self.compress)
            self.made = home
            return home
        }
    }
}
