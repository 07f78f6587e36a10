import BackupModel
import BackupPOSIX

/// How restore and verify come to the one backup they act on: the store's listing, the authenticated
/// catalog, `AuthenticatedCatalog.choose`, and the plain manifest checked against the chosen index. A
/// backup without an authenticated index is taken only by name and with `allowUnauthenticated`.
struct BackupSelection {
    var store: any BackupStore
    var cipher: any PayloadCipher
    var passphrase: Secret
    var stateDirectory: String?

    /// What was chosen, and the catalog it was chosen from (for the notes on what did not count).
    struct Outcome {
        var backup: AuthenticatedBackup
        var catalog: AuthenticatedCatalog
        /// Why another appliance's backup was taken, when it was.
        var note: String?
    }

    /// Chooses as `AuthenticatedCatalog.choose` does. With `anyOwnerByName` (verify, which changes
    /// nothing), a backup named explicitly is taken whoever took it.
    func choose(
        name: String?, appliance: String?, own: String?, ownHasBackedUp: Bool = false, anyOwnerByName: Bool = false, allowUnauthenticated: Bool
    ) async throws -> Outcome {
        let (store, cipher, passphrase, stateDirectory) = (self.store, self.cipher, self.passphrase, self.stateDirectory)
        let entries = try await Blocking.run { try store.listEntries() }
        let catalog: AuthenticatedCatalog
        do {
            catalog = try await Blocking.run("gwbackup.decrypt") {
                try AuthenticatedCatalog.open(store: store, entries: entries, cipher: cipher, passphrase: passphrase, stateDirectory: stateDirectory)
            }
        } catch let error as BackupError where error.code == .wrongPassword && allowUnauthenticated && name != nil {
            // Perhaps only format 1 backups are there: the named one is taken below as its plain manifest says.
            catalog = AuthenticatedCatalog.empty(store.displayName)
        }
        if allowUnauthenticated, let name, !catalog.backups.contains(where: { $0.name == name }) {
            let plain = try await Blocking.run { try BackupCatalog.entry(named: name, in: store, entries: entries) }
            let authenticator = BackupAuthenticator(store: store, cipher: cipher, passphrase: passphrase)
            let backup = try await Blocking.run("gwbackup.decrypt") { try authenticator.authenticate(plain, allowUnauthenticated: true) }
            return Outcome(backup: backup, catalog: catalog, note: nil)
        }
        let choice: AuthenticatedCatalog.Choice
        if anyOwnerByName, let name, let named = catalog.backups.first(where: { $0.name == name }) {
            choice = AuthenticatedCatalog.Choice(backup: named, note: nil)
        } else {
            choice = try catalog.choose(name: name, appliance: appliance, own: own, ownHasBackedUp: ownHasBackedUp)
        }
        let chosen = choice.backup.name
        // The plain manifest serves stock tools; one that disagrees with the index was altered.
        let sealed = choice.backup.index
        let plain = try await Blocking.run {
            try store.plainManifest(agreeingWith: sealed, backup: chosen, first: try BackupIndex.decode(try store.readIndex(backup: chosen), backup: chosen))
        }
        return Outcome(backup: AuthenticatedBackup(name: chosen, index: choice.backup.index, plain: plain, isAuthenticated: true), catalog: catalog, note: choice.note)
    }
}
