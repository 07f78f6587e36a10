import BackupCore
import BackupModel
import BackupPOSIX
import Crypto
import Foundation
import Synchronization

/// Credentials verified recently, so that only new or wrong ones cost a bcrypt check (as Apache's
/// `mod_authn_socache` does for slow hashes). Entries are keyed by an HMAC of user and password under
/// a key made at random for this process (no password is kept), live a minute, and are dropped when
/// the users file changes (a password changed, a user removed: its `FileIdentity` differs).
///
/// Shared by the authenticator and the status GETs answered on the event loop (`StatusFastPath`):
/// a look-up takes a lock, never an actor's turn.
final class CredentialCache: Sendable {
    static let lifetime: Duration = .seconds(60)

    private struct State {
        /// The HMAC with its key already set up: each digest starts from a copy (setting the key up
        /// hashes it twice, which was a third of a look-up's cost).
        var keyed = HMAC<SHA256>(key: SymmetricKey(size: .bits256))
        var entries: [Data: Entry] = [:]
    }

    struct Entry: Sendable {
        var user: String
        var expires: ContinuousClock.Instant
        /// The users file as it was when the credentials were verified.
        var usersFile: FileIdentity?
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int = 1_000) {
        self.capacity = capacity
    }

    /// The HMAC that stands for these credentials (no password is kept, here or in the authenticator).
    func digest(_ user: String, _ password: String) -> Data {
        var hmac = self.state.withLock { $0.keyed }
        hmac.update(data: Data((user + "\u{0}" + password).utf8))
        return Data(hmac.finalize())
    }

    /// True when these credentials were verified less than a minute ago against the same users file.
    func contains(user: String, password: String, usersFile: FileIdentity?, now: ContinuousClock.Instant = .now) -> Bool {
        let digest = self.digest(user, password)
        guard let entry = self.state.withLock({ $0.entries[digest] }) else { return false }
        return entry.user == user && entry.usersFile == usersFile && entry.expires > now
    }

    /// Remembers credentials that bcrypt just verified.
    func remember(user: String, password: String, usersFile: FileIdentity?, now: ContinuousClock.Instant = .now) {
        let digest = self.digest(user, password)
        self.state.withLock { state in
            if state.entries.count >= self.capacity {
                state.entries = state.entries.filter { $0.value.expires > now }
                if state.entries.count >= self.capacity { state.entries.removeAll(keepingCapacity: true) }
            }
            state.entries[digest] = Entry(user: user, expires: now + Self.lifetime, usersFile: usersFile)
        }
    }

    /// Entries held (for tests).
    var count: Int { self.state.withLock { $0.entries.count } }
}
