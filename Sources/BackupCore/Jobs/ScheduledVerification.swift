import BackupModel
import BackupPOSIX

/// A schedule's verification (`"job": "verify"`): this appliance's newest authenticated backup and
/// `older` others drawn at random from its older ones, each verified by `BackupVerifier`. Night
/// after night the draws cover the whole history, so damage to an old backup is found before the
/// day it is needed, not on it.
public struct ScheduledVerification: Sendable {
    public var verifier: BackupVerifier
    public var passphrase: Secret
    /// How many older backups besides the newest.
    public var older: Int

    public init(verifier: BackupVerifier, passphrase: Secret, older: Int) {
        self.verifier = verifier
        self.passphrase = passphrase
        self.older = older
    }

    /// Verifies the chosen backups one after another; a backup that does not verify does not stop
    /// the others. Throws when the catalog cannot be read or holds no backup of this appliance.
    public func run<Random: RandomNumberGenerator & Sendable>(using random: Random) async throws -> [BackupVerifier.Report] {
        let (store, cipher, passphrase, stateDirectory) = (self.verifier.store, self.verifier.cipher, self.passphrase, self.verifier.stateDirectory)
        let catalog = try await Blocking.run("gwbackup.decrypt") {
            try AuthenticatedCatalog.open(store: store, cipher: cipher, passphrase: passphrase, stateDirectory: stateDirectory)
        }
        let own = try stateDirectory.flatMap { try ApplianceIdentity.read(stateDirectory: $0) }?.id
        let names = catalog.backups(of: self.verifier.appliance ?? own).map(\.name)
        guard !names.isEmpty else {
            throw BackupError(.notFound, "no authenticated backup of this appliance in \(store.displayName) to verify")
        }
        var random = random
        var reports: [BackupVerifier.Report] = []
        for name in Self.choose(names, older: self.older, using: &random) {
            if let stopped = self.verifier.cancellation?.error { throw stopped }
            do {
                reports.append(try await self.verifier.verify(backup: name, passphrase: passphrase))
            } catch {
                let failure = BackupError.wrap(error)
                reports.append(BackupVerifier.Report(
                    backup: name, location: store.location(of: name), mode: "failed", ok: false,
                    components: [ComponentResult(name: "index", status: .failed, message: failure.message)], ignored: []))
            }
        }
        return reports
    }

    /// The newest of `names` (oldest first, as the catalog sorts them), then `older` of the others at
    /// random, without repeats, newest first.
    public static func choose(_ names: [String], older: Int, using random: inout some RandomNumberGenerator) -> [String] {
        guard let newest = names.last else { return [] }
        let drawn = Array(names.dropLast()).shuffled(using: &random).prefix(max(0, older))
        return [newest] + names.dropLast().reversed().filter { drawn.contains($0) }
    }
}
