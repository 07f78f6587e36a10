import BackupModel
import BackupPOSIX
import Crypto
import Foundation

/// The backups under a backup path as the security password sees them: the one catalog that restore,
/// verify, list, prune and scheduled retention act on. A backup counts only when its `index.json.gpg`
/// opens with the password and names its own directory; its time, components and owner are what that
/// index says. The plain `manifest.json` is never read here. Whatever does not authenticate is
/// `Unverified`: listed with its reason, never deleted by a policy, never counted towards one, never
/// preferred. Memory stays bounded whatever the store holds: indexes are read one at a time, at most
/// `SealedIndex.sizeLimit` each, and only authenticated ones are kept.
public struct AuthenticatedCatalog: Sendable {
    /// A backup whose index authenticated.
    public struct Backup: Sendable, Equatable {
        public var name: String
        public var index: SealedIndex
        /// The appliance that took it; nil for a backup written before indexes carried one.
        public var applianceID: String? { self.index.applianceID }
    }

    /// A directory that looks like a backup and did not authenticate.
    public struct Unverified: Sendable, Equatable, Codable, CustomStringConvertible {
        public var name: String
        public var reason: String
        /// True when it may be a backup of this appliance that was damaged (its index is missing or does
        /// not decrypt): restore then refuses to fall back silently to an older backup behind it. False
        /// for a backup under another password, or a renamed copy of another backup.
        public var mayBeDamaged: Bool

        // snake_case, as `gwbackup prune --json` prints it (docs/json/prune.schema.json).
        enum CodingKeys: String, CodingKey {
            case name, reason
            case mayBeDamaged = "may_be_damaged"
        }

        /// Names come from the store: escaped, so they cannot forge lines or move a terminal's cursor.
        public var description: String { "\(SafeText.escaped(self.name, limit: 200)) (\(SafeText.escaped(self.reason)))" }
    }

    /// The store as messages name it.
    public var displayName: String
    /// Authenticated backups, oldest first by their authenticated time, then name.
    public var backups: [Backup]
    public var unverified: [Unverified]
    /// Leftovers of interrupted backups and deletions (`.partial-…`, `.deleting-…`).
    public var leftovers: [StoredEntry]
    /// Entries that are not backups at all (files, hidden entries, directories with neither manifest nor
    /// index that are not named like a backup), with the reason.
    public var ignored: [BackupCatalog.Ignored]

    /// A catalog of nothing, for a store that holds no backup this password opens.
    public static func empty(_ displayName: String) -> AuthenticatedCatalog {
        AuthenticatedCatalog(displayName: displayName, backups: [], unverified: [], leftovers: [], ignored: [])
    }

    /// True for a name of the form backups are given: `<appliance>-YYYYMMDDTHHMMSSZ[-N]`.
    public static func looksLikeBackupName(_ name: String) -> Bool {
        var parts = name.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        // Backups taken in the same second get -1, -2, … after the time.
        if parts.count >= 3, let last = parts.last, !last.isEmpty, last.utf8.allSatisfy({ (0x30...0x39).contains($0) }) { parts.removeLast() }
        guard parts.count >= 2, let stamp = parts.last, !parts[0].isEmpty else { return false }
        let digits = Array(stamp.utf8)
        guard digits.count == 16, digits[8] == UInt8(ascii: "T"), digits[15] == UInt8(ascii: "Z") else { return false }
        return (digits[0..<8] + digits[9..<15]).allSatisfy { (0x30...0x39).contains($0) }
    }

    /// The most bytes read of one encrypted index (the decrypted limit, and what gpg adds).
    static let encryptedIndexLimit = SealedIndex.sizeLimit + 65_536

    /// Lists `store` and authenticates every backup directory's index with `passphrase`. Indexes that
    /// decrypted before (same bytes, same password) come from `stateDirectory`'s cache at the cost of a
    /// hash; the others are decrypted, two at a time. Throws `.wrongPassword` when backups are present
    /// and the password opens none of them. Blocking.
    public static func open(store: any BackupStore, cipher: any PayloadCipher, passphrase: Secret, stateDirectory: String?) throws -> AuthenticatedCatalog {
        try self.open(store: store, entries: try store.listEntries(), cipher: cipher, passphrase: passphrase, stateDirectory: stateDirectory)
    }

    /// The same, from a listing already made.
    public static func open(store: any BackupStore, entries: [StoredEntry], cipher: any PayloadCipher, passphrase: Secret, stateDirectory: String?) throws -> AuthenticatedCatalog {
        var catalog = AuthenticatedCatalog.empty(store.displayName)
        var candidates: [StoredEntry] = []
        for entry in entries {
            switch entry.kind {
            case .temporary: catalog.leftovers.append(entry)
            case .foreign: catalog.ignored.append(BackupCatalog.Ignored(name: entry.name, reason: "not a backup directory"))
            case .complete, .incomplete: candidates.append(entry)
            }
        }
        guard candidates.count <= BackupCatalog.entryLimit else {
            throw BackupError(.storage, "\(store.displayName) holds more than \(BackupCatalog.entryLimit) directories; refusing to read them all")
        }
        // Not for a recovery key (`PayloadCipher.allowsCatalogCache`): what it opens proves nothing of a password.
        var cache = (cipher.allowsCatalogCache ? stateDirectory : nil).map { CatalogCache.open(stateDirectory: $0, cipher: cipher, passphrase: passphrase) }
        var fresh: [(name: String, digest: String, index: [UInt8])] = []
        var reused: [(name: String, digest: String, index: [UInt8])] = []
        var wrongPassword = 0
        var copies: [(Unverified, original: String)] = []
        // Two at a time: the key derivation of each index not in the cache is a core's ~0.15 s.
        let width = max(1, min(2, ProcessInfo.processInfo.activeProcessorCount))
        var start = 0
        while start < candidates.count {
            let batch = Array(candidates[start..<min(start + width, candidates.count)])
            start += batch.count
            let outcomes = OutcomeBox(count: batch.count)
            let snapshot = cache
            Self.onThreads(batch.count) { position in
                outcomes.set(position, Self.authenticate(batch[position], store: store, cipher: cipher, passphrase: passphrase, cache: snapshot))
            }
            for (entry, outcome) in zip(batch, outcomes.values) {
                switch outcome {
                case .backup(let index, let digest, let bytes, let cached):
                    catalog.backups.append(Backup(name: entry.name, index: index))
                    if cached { reused.append((entry.name, digest, bytes)) } else { fresh.append((entry.name, digest, bytes)) }
                case .unverified(let reason, let mayBeDamaged, let isWrongPassword):
                    catalog.unverified.append(Unverified(name: entry.name, reason: reason, mayBeDamaged: mayBeDamaged))
                    if isWrongPassword { wrongPassword += 1 }
                case .copy(let original, let reason):
                    copies.append((Unverified(name: entry.name, reason: reason, mayBeDamaged: false), original))
                case .notABackup:
                    catalog.ignored.append(BackupCatalog.Ignored(name: entry.name, reason: "incomplete: no \(BackupIndex.fileName)"))
                case .storeFailed(let error):
                    throw error
                case .none:
                    catalog.unverified.append(Unverified(name: entry.name, reason: "not checked", mayBeDamaged: true))
                }
            }
        }
        // A copy of a backup that is still here is harmless; the only copy of one that is gone was moved
        // (maybe the newest, out of the way): it must not let restore fall back silently behind it.
        let present = Set(catalog.backups.map(\.name))
        for (copy, original) in copies {
            var copy = copy
            copy.mayBeDamaged = !present.contains(original)
            catalog.unverified.append(copy)
        }
        catalog.unverified.sort { $0.name < $1.name }
        if catalog.backups.isEmpty && wrongPassword > 0 {
            throw BackupError(
                .wrongPassword,
                "\(cipher.secretDescription) opens none of the \(wrongPassword) backup(s) in \(store.displayName): the wrong one, or backups taken under another")
        }
        // Only what authenticated now is cached (and only when something new did: nothing to write otherwise).
        if !fresh.isEmpty { cache?.save(store: store.displayName, authenticated: reused + fresh, cipher: cipher, passphrase: passphrase) }
        // What this appliance committed and could not read back as written counts for nothing.
        if let stateDirectory {
            let untrusted = UntrustedBackups.read(in: stateDirectory)
            catalog.backups.removeAll { backup in
                guard let reason = untrusted.reason(store: store.displayName, name: backup.name) else { return false }
                catalog.unverified.append(Unverified(name: backup.name, reason: "committed, then not read back as written: \(reason)", mayBeDamaged: true))
                return true
            }
            catalog.unverified.sort { $0.name < $1.name }
        }
        catalog.backups.sort { ($0.index.createdEpoch, $0.name) < ($1.index.createdEpoch, $1.name) }
        return catalog
    }

    /// One candidate's outcome.
    enum Outcome: Sendable {
        case backup(SealedIndex, digest: String, bytes: [UInt8], cached: Bool)
        case unverified(String, mayBeDamaged: Bool, wrongPassword: Bool)
        /// An authenticated index that names another backup.
        case copy(of: String, reason: String)
        /// The store failed (a lost connection, a stop): a fact about the store, not the backup.
        case storeFailed(BackupError)
        case notABackup
    }

    /// Runs `work` for `0..<count`, the first on this thread and the others on threads of their own, and
    /// waits for all: never on Dispatch's shared pool, which reads a stalling store holds must not
    /// starve (the timers of job deadlines run there).
    static func onThreads(_ count: Int, _ work: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let finished = DispatchSemaphore(value: 0)
        for position in 1..<count {
            let thread = Thread {
                work(position)
                finished.signal()
            }
            thread.name = "gwbackup.catalog"
            thread.start()
        }
        work(0)
        for _ in 1..<count { finished.wait() }
    }

    /// Collects outcomes from concurrent work.
    final class OutcomeBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [Outcome?]
        init(count: Int) { self.stored = Array(repeating: nil, count: count) }
        func set(_ position: Int, _ outcome: Outcome) { self.lock.withLock { self.stored[position] = outcome } }
        var values: [Outcome?] { self.lock.withLock { self.stored } }
    }

    /// Reads and authenticates one directory's index.
    static func authenticate(_ entry: StoredEntry, store: any BackupStore, cipher: any PayloadCipher, passphrase: Secret, cache: CatalogCache?) -> Outcome {
        let encrypted: [UInt8]
        do {
            let source = LimitedSource(try store.openSealedIndex(backup: entry.name), limit: UInt64(Self.encryptedIndexLimit))
            let sink = BoundedMemorySink(limit: Self.encryptedIndexLimit, what: "its \(SealedIndex.fileName)")
            _ = try source.copy(to: sink)
            if source.exceeded { return .unverified("its \(SealedIndex.fileName) is larger than \(Self.encryptedIndexLimit) bytes", mayBeDamaged: true, wrongPassword: false) }
            encrypted = sink.bytes
        } catch let error as BackupError where error.code == .notFound {
            // A directory without an index: a format 1 backup, one whose index was removed, or no backup.
            // Named like a backup with neither file, it may be one whose manifest and index were removed.
            if entry.kind == .complete {
                return .unverified("no authenticated index (\(SealedIndex.fileName)): a format 1 backup, or its index was removed", mayBeDamaged: true, wrongPassword: false)
            }
            return Self.looksLikeBackupName(entry.name)
                ? .unverified("incomplete: no \(BackupIndex.fileName) and no authenticated index, under a backup's name", mayBeDamaged: true, wrongPassword: false)
                : .notABackup
        } catch let error as BackupError where error.code == .connection || error.code == .interrupted {
            return .storeFailed(error)
        } catch {
            return .unverified("its \(SealedIndex.fileName) cannot be read: \(BackupError.wrap(error).message)", mayBeDamaged: true, wrongPassword: false)
        }
        let digest = SHA256.hash(data: encrypted).map { String(format: "%02x", $0) }.joined()
        var decrypted: [UInt8]
        var cached = false
        if let hit = cache?.lookup(store: store.displayName, name: entry.name, digest: digest) {
            decrypted = hit
            cached = true
        } else {
            let sink = BoundedMemorySink(limit: SealedIndex.sizeLimit, what: "the decrypted index")
            do {
                try cipher.decrypt(from: MemoryByteSource(Data(encrypted)), to: sink, passphrase: passphrase)
            } catch {
                let failure = BackupError.wrap(error, as: .cryptoFailed)
                if failure.code == .wrongPassword {
                    return .unverified("its index does not open with this security password (another appliance's, or taken under another password)", mayBeDamaged: false, wrongPassword: true)
                }
                return .unverified("its index does not authenticate (\(failure.message)): altered or damaged", mayBeDamaged: true, wrongPassword: false)
            }
            decrypted = sink.bytes
        }
        do {
            let index = try SealedIndex.decode(decrypted, backup: entry.name)
            return .backup(index, digest: digest, bytes: decrypted, cached: cached)
        } catch let error as BackupError where error.code == .unauthenticated {
            // The index of another backup: a copy or a rename, authenticated but not under this name.
            let original = (try? JSONDecoder().decode(SealedIndex.self, from: Data(decrypted)))?.name ?? ""
            return .copy(of: original, reason: "a copy or rename of backup \(SafeText.escaped(original, limit: 200)): its authenticated index names that backup")
        } catch {
            return .unverified(BackupError.wrap(error).message, mayBeDamaged: true, wrongPassword: false)
        }
    }

    // MARK: - Ownership

    /// The appliance identifiers the authenticated backups name (not counting backups without one).
    public var identities: Set<String> { Set(self.backups.compactMap(\.applianceID)) }

    /// The backups of `appliance`. Backups without an identifier count as its own when `adoptingUnidentified`
    /// (the operator named the appliance), or when no other identity is present.
    public func backups(of appliance: String?, adoptingUnidentified: Bool = false) -> [Backup] {
        let others = self.identities.subtracting(appliance.map { [$0] } ?? [])
        let unidentifiedAreOurs = adoptingUnidentified || others.isEmpty
        return self.backups.filter { backup in
            if let id = backup.applianceID { return id == appliance }
            return unidentifiedAreOurs
        }
    }

    /// A summary of each other appliance with backups here, for messages: `gw-… (host, N backups, newest NAME)`.
    public func describeAppliances(except own: String?) -> [String] {
        var byID: [String: [Backup]] = [:]
        for backup in self.backups where backup.applianceID != own {
            byID[backup.applianceID ?? "(none)", default: []].append(backup)
        }
        return byID.keys.sorted().map { id in
            let backups = byID[id] ?? []
            let host = backups.last?.index.hostname.map { SafeText.escaped($0, limit: 80) } ?? "hostname not recorded"
            let newest = backups.last.map { SafeText.escaped($0.name, limit: 120) } ?? ""
            return "\(id) (\(host), \(backups.count) backup\(backups.count == 1 ? "" : "s"), newest \(newest))"
        }
    }

    // MARK: - Choosing what to restore

    /// What restore and verify take: the backup, and a note for the operator when the choice is not
    /// this appliance's own newest backup.
    public struct Choice: Sendable {
        public var backup: Backup
        public var note: String?
    }

    /// Chooses the backup to restore or verify: `name` when given (it must be authenticated and belong to
    /// the appliance chosen), else the newest authenticated backup of `appliance` (default: `own`). On
    /// replacement hardware (no backups of `own`), the newest of the one other appliance found, with a
    /// note; several appliances are an error that lists them. A directory that may be a damaged backup
    /// and sorts after the choice is an error that names it: never a silent fall-back to an older backup.
    /// `ownHasBackedUp` (this appliance has a successful backup on record) rules the replacement case
    /// out: an appliance whose own backups do not authenticate here is not given another's silently.
    public func choose(name: String?, appliance: String?, own: String?, ownHasBackedUp: Bool = false) throws -> Choice {
        let target = appliance ?? own
        if let name {
            guard let backup = self.backups.first(where: { $0.name == name }) else {
                if let unverified = self.unverified.first(where: { $0.name == name }) {
                    throw BackupError(.unauthenticated, "backup \(SafeText.escaped(name)) in \(self.displayName) does not authenticate: \(SafeText.escaped(unverified.reason))")
                }
                throw BackupError(.notFound, "no backup called \(SafeText.escaped(name)) in \(self.displayName)")
            }
            let owned = self.backups(of: target, adoptingUnidentified: appliance != nil).contains(backup)
            guard owned else {
                let owner = backup.applianceID ?? "(none recorded)"
                let host = backup.index.hostname.map { " (\(SafeText.escaped($0, limit: 80)))" } ?? ""
                throw BackupError(
                    .invalidInput,
                    "backup \(SafeText.escaped(name)) was taken by appliance \(owner)\(host), not by \(target ?? "this appliance"); to restore it here, add --appliance \(backup.applianceID ?? "ID")")
            }
            return Choice(backup: backup, note: nil)
        }
        let mine = self.backups(of: target, adoptingUnidentified: appliance != nil)
        if let newest = mine.last {
            try self.refuseDamagedAfter(newest.name)
            return Choice(backup: newest, note: nil)
        }
        if appliance != nil {
            throw BackupError(.notFound, "no authenticated backup of appliance \(SafeText.escaped(appliance ?? "", limit: 80)) in \(self.displayName)\(self.unverifiedNote.map { "; " + $0 } ?? "")")
        }
        // Replacement hardware: nothing of our own; one other appliance's backups are taken, several are not guessed.
        let others = self.describeAppliances(except: own)
        guard !others.isEmpty else {
            // Something that may be a damaged backup is here: that is the error, not "nothing found".
            let code: BackupError.Code = self.unverified.contains(where: \.mayBeDamaged) ? .unauthenticated : .notFound
            throw BackupError(code, "no complete, authenticated backup in \(self.displayName)\(self.unverifiedNote.map { "; " + $0 } ?? "")")
        }
        if ownHasBackedUp {
            throw BackupError(
                .notFound,
                "none of this appliance's (\(own ?? "?")) backups in \(self.displayName) authenticates, though it has made backups: it is not replacement hardware, so another appliance's backup is not taken without being named (--appliance ID; the API: \"appliance\"): \(others.joined(separator: "; "))\(self.unverifiedNote.map { "; " + $0 } ?? "")")
        }
        guard others.count == 1, let newest = self.backups.last(where: { $0.applianceID != own }) else {
            throw BackupError(
                .invalidInput,
                "this appliance (\(own ?? "no identity yet")) has no backups in \(self.displayName), and \(others.count) other appliances do: choose one with --appliance ID (the API: \"appliance\"): \(others.joined(separator: "; "))")
        }
        try self.refuseDamagedAfter(newest.name)
        return Choice(
            backup: newest,
            note: "this appliance (\(own ?? "no identity yet")) has no backups here; restored the newest backup of the only other appliance found, \(others[0])")
    }

    /// Throws when a directory that may be a damaged backup sorts after `name` (names sort by creation
    /// time): the operator chooses an older backup explicitly instead.
    func refuseDamagedAfter(_ name: String) throws {
        let newer = self.unverified.filter { $0.mayBeDamaged && $0.name > name }
        guard !newer.isEmpty else { return }
        let shown = newer.prefix(5).map(\.description).joined(separator: "; ")
        throw BackupError(
            .unauthenticated,
            "the newest entry in \(self.displayName) is not a backup that authenticates: \(shown)\(newer.count > 5 ? " and \(newer.count - 5) more" : ""); nothing older is taken silently: choose a backup with --backup NAME (newest authenticated: \(SafeText.escaped(name)))")
    }

    /// A sentence about what did not authenticate, or nil.
    public var unverifiedNote: String? {
        guard !self.unverified.isEmpty else { return nil }
        let shown = self.unverified.prefix(10).map(\.description).joined(separator: ", ")
        return "unverified: " + shown + (self.unverified.count > 10 ? " and \(self.unverified.count - 10) more" : "")
    }

    /// Every entry that is not a backup, leftovers first, with its reason.
    public var notBackups: [BackupCatalog.Ignored] {
        self.leftovers.map { BackupCatalog.Ignored(name: $0.name, reason: "temporary: a backup being written or interrupted") } + self.ignored
    }

    /// A sentence about entries that are not backups (leftovers, files, other directories), or nil.
    public var ignoredNote: String? {
        let all = self.notBackups
        guard !all.isEmpty else { return nil }
        // Bounded: a path full of other things must not flood the status.
        let shown = all.prefix(10).map(\.description).joined(separator: ", ")
        return "ignored " + shown + (all.count > 10 ? " and \(all.count - 10) more" : "")
    }
}
