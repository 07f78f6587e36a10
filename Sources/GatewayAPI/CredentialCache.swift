import Crypto
import Foundation

/// Credentials verified recently, so that only new or wrong ones cost a bcrypt check (as Apache's
/// `mod_authn_socache` does for slow hashes). Entries are keyed by an HMAC of user and password under
/// a key made at random for this process (no password is kept), live a minute, and are dropped when
/// the users file changes (a password changed, a user removed).
struct CredentialCache: Sendable {
    static let lifetime: Duration = .seconds(60)

    private let key = SymmetricKey(size: .bits256)
    private var entries: [Data: Entry] = [:]
    private let capacity: Int

    struct Entry: Sendable {
        var user: String
        var expires: ContinuousClock.Instant
        /// The users file as it was when the credentials were verified.
        var stamp: String
    }

    init(capacity: Int = 1_000) {
        self.capacity = capacity
    }

    /// The HMAC that stands for these credentials (no password is kept, here or in the authenticator).
    func digest(_ user: String, _ password: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data((user + "\u{0}" + password).utf8), using: self.key))
    }

    /// True when these credentials were verified less than a minute ago against the same users file.
    func contains(user: String, password: String, stamp: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard let entry = self.entries[self.digest(user, password)] else { return false }
        return entry.user == user && entry.stamp == stamp && entry.expires > now
    }

    /// Remembers credentials that bcrypt just verified.
    mutating func remember(user: String, password: String, stamp: String, now: ContinuousClock.Instant = .now) {
        if self.entries.count >= self.capacity {
            self.entries = self.entries.filter { $0.value.expires > now }
            if self.entries.count >= self.capacity { self.entries.removeAll(keepingCapacity: true) }
        }
        self.entries[self.digest(user, password)] = Entry(user: user, expires: now + Self.lifetime, stamp: stamp)
    }

    /// Entries held (for tests).
    var count: Int { self.entries.count }
}
