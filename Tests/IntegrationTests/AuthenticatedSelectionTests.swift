import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// Nothing the store says without the password deletes a backup or chooses which one is restored
/// (issue 21): restore, verify, list, prune and scheduled retention act on the authenticated catalog,
/// each appliance on its own backups.
@Suite("Selection and retention believe only what the password authenticates")
struct AuthenticatedSelectionTests {
    func backups(_ fixture: Fixture, count: Int) async throws -> [String] {
        var names: [String] = []
        for _ in 0..<count {
            // Names have a one-second resolution; distinct times keep the order unambiguous.
            if !names.isEmpty { try await Task.sleep(for: .milliseconds(1100)) }
            let record = try await fixture.backup()
            #expect(record.status == .completed, "\(record.message)")
            names.append(try #require(record.backup))
        }
        return names
    }

    func names(_ fixture: Fixture) throws -> Set<String> {
        Set(try FileTree.names(in: fixture.backups))
    }

    /// A directory holding only a plain manifest copied from a genuine backup, its time moved far ahead.
    func plantManifestOnly(_ fixture: Fixture, from genuine: String, as name: String = "flowgateway-29990101T000000Z") throws -> String {
        var plain = try BackupForgery(fixture.backups + "/" + genuine, password: fixture.password).plain()
        plain.name = name
        plain.createdEpoch = 32_503_593_600
        try FileTree.makeDirectories(fixture.backups + "/" + name)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(plain), to: fixture.backups + "/" + name + "/" + BackupIndex.fileName)
        return name
    }

    func prune(_ fixture: Fixture, keepLast: Int, store: (any BackupStore)? = nil, dryRun: Bool = false) async throws -> Pruner.Report {
        try await fixture.runtime.pruner(store: store ?? fixture.store, policy: RetentionPolicy(keepLast: keepLast), passphrase: fixture.password).runOffPool(dryRun: dryRun)
    }

    @Test func aPlantedManifestWithAFutureTimeIsNeitherCountedNorDeletedNorTaken() async throws {
        let fixture = try Fixture("select-planted")
        let genuine = try await self.backups(fixture, count: 2)
        let planted = try self.plantManifestOnly(fixture, from: genuine[1])

        let report = try await self.prune(fixture, keepLast: 2)
        #expect(report.decisions.map(\.name) == [genuine[1], genuine[0]] && report.decisions.allSatisfy(\.keep), "\(report.decisions)")
        #expect(report.unverified.map(\.name) == [planted] && report.unverified[0].reason.contains("no authenticated index"))
        let tighter = try await self.prune(fixture, keepLast: 1)
        #expect(tighter.decisions.first { $0.name == genuine[1] }?.keep == true, "the newest authenticated backup stays")
        let left = try self.names(fixture)
        #expect(left.isSuperset(of: [genuine[1], planted]) && !left.contains(genuine[0]), "\(left)")

        // Restore does not take the planted entry, and does not fall back silently behind it either.
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        let refused = try await fixture.restore()
        #expect(refused.status == .error && refused.message.contains(planted) && refused.message.contains("--backup"), "\(refused.message)")
        #expect(try fixture.snapshot() == before)
        let chosen = try await fixture.restore(backup: genuine[1])
        #expect(chosen.status == .completed && chosen.backup == genuine[1], "\(chosen.message)")
    }

    @Test func anOperatorsCopyCountsForNothingAndTheGenuineNewestIsRestored() async throws {
        let fixture = try Fixture("select-copy")
        let genuine = try await self.backups(fixture, count: 2)
        let copy = genuine[1] + ".copy"
        #expect(try shell("cp -a \(fixture.backups)/\(genuine[1]) \(fixture.backups)/\(copy)").status == 0)
        let report = try await self.prune(fixture, keepLast: 1)
        #expect(report.decisions.map(\.name) == [genuine[1], genuine[0]], "\(report.decisions)")
        #expect(report.unverified.first?.name == copy && report.unverified.first?.reason.contains("a copy or rename of backup \(genuine[1])") == true, "\(report.unverified)")
        #expect(try self.names(fixture) == [genuine[1], copy])
        let record = try await fixture.restore()
        #expect(record.status == .completed && record.backup == genuine[1], "\(record.message)")
        #expect(record.message.contains("unverified: \(copy)"), "the copy is mentioned: \(record.message)")
    }

    @Test func theNewestMovedAwayIsNotSilentlyReplacedByAnOlderOne() async throws {
        let fixture = try Fixture("select-moved")
        let genuine = try await self.backups(fixture, count: 2)
        let moved = "zz-pinned-before-upgrade"
        #expect(rename(fixture.backups + "/" + genuine[1], fixture.backups + "/" + moved) == 0)
        let record = try await fixture.restore()
        #expect(record.status == .error && record.message.contains(moved), "\(record.message)")
        let report = try await self.prune(fixture, keepLast: 1)
        #expect(report.decisions.map(\.name) == [genuine[0]] && report.decisions[0].keep)
        #expect(try self.names(fixture) == [genuine[0], moved], "nothing deleted")
    }

    @Test func aNewestBackupWhoseIndexDoesNotOpenIsAnErrorThatNamesIt() async throws {
        let fixture = try Fixture("select-damaged")
        let genuine = try await self.backups(fixture, count: 2)
        let file = fixture.backups + "/" + genuine[1] + "/" + SealedIndex.fileName
        var data = try FileTree.readFile(file)
        data[data.count - 30] ^= 0x01
        try BackupForgery.replaceFile(file, with: data)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        let record = try await fixture.restore()
        #expect(record.status == .error && record.message.contains("\(genuine[1]) (its index does not authenticate"), "\(record.message)")
        #expect(try fixture.snapshot() == before)
        let report = try await self.prune(fixture, keepLast: 1)
        #expect(report.decisions.map(\.name) == [genuine[0]] && report.decisions[0].keep, "the newest authenticated one is kept")
        #expect(report.unverified.map(\.name) == [genuine[1]])
        #expect(try self.names(fixture) == Set(genuine), "nothing deleted")
        // The operator chooses the older one explicitly.
        let older = try await fixture.restore(backup: genuine[0])
        #expect(older.status == .completed, "\(older.message)")
    }

    @Test func aTamperedOrBrokenPlainManifestNeverMakesRestoreTakeAnOlderBackup() async throws {
        let fixture = try Fixture("select-plain")
        let genuine = try await self.backups(fixture, count: 2)
        let newest = BackupForgery(fixture.backups + "/" + genuine[1], password: fixture.password)
        var plain = try newest.plain()
        plain.createdEpoch = 1_000
        try newest.writePlain(plain)
        let lowered = try await fixture.restore()
        #expect(lowered.status == .error && lowered.message.contains("backup \(genuine[1]): its plain manifest.json does not agree"), "\(lowered.message)")
        try BackupForgery.replaceFile(newest.directory + "/" + BackupIndex.fileName, with: Data("{ broken".utf8))
        let broken = try await fixture.restore()
        #expect(broken.status == .error && broken.message.contains("backup \(genuine[1]): manifest.json is not valid"), "\(broken.message)")
        // Retention judges by the authenticated time: the newest stays, whatever its plain copy says.
        let report = try await self.prune(fixture, keepLast: 1)
        #expect(report.decisions.map(\.name) == [genuine[1], genuine[0]] && report.decisions.map(\.keep) == [true, false])
    }

    @Test func appliancesSharingADestinationEachRestoreAndPruneTheirOwn() async throws {
        let first = try Fixture("select-a")
        let second = try Fixture("select-b")
        // B writes into A's backup path, from its own state directory (its own identity).
        func backupOfB() async throws -> String {
            let request = BackupRequest(target: first.target, store: first.store, manifest: try second.manifest(), securityPassword: second.password)
            let record = try await second.runtime.orchestrator().backup(request)
            #expect(record.status == .completed, "\(record.message)")
            return try #require(record.backup)
        }
        let olderOfA = try await self.backups(first, count: 1)[0]
        try await Task.sleep(for: .milliseconds(1100))
        let ofB = try await backupOfB()
        try await Task.sleep(for: .milliseconds(1100))
        let newestOfA = try await self.backups(first, count: 1)[0]
        let idOfA = try #require(try ApplianceIdentity.read(stateDirectory: first.state)?.id)
        let idOfB = try #require(try ApplianceIdentity.read(stateDirectory: second.state)?.id)
        #expect(idOfA != idOfB)

        let restoreOfB = try await second.runtime.orchestrator().restore(
            RestoreRequest(target: first.target, store: first.store, manifest: try second.manifest(), securityPassword: second.password))
        #expect(restoreOfB.status == .completed && restoreOfB.backup == ofB, "B restores its own: \(restoreOfB.message)")
        let restoreOfA = try await first.restore()
        #expect(restoreOfA.status == .completed && restoreOfA.backup == newestOfA, "A restores its own: \(restoreOfA.message)")
        // Someone else's backup by name needs the owner named.
        let named = try await first.restore(backup: ofB)
        #expect(named.status == .error && named.message.contains("--appliance \(idOfB)"), "\(named.message)")

        let report = try await self.prune(first, keepLast: 1)
        #expect(report.appliance == idOfA && report.decisions.map(\.name) == [newestOfA, olderOfA] && report.decisions.map(\.keep) == [true, false])
        #expect(report.otherAppliances == [ofB])
        #expect(try self.names(first) == [newestOfA, ofB])
        let pruneOfB = try await second.runtime.pruner(store: first.store, policy: RetentionPolicy(keepLast: 1), passphrase: second.password).runOffPool(dryRun: false)
        #expect(pruneOfB.decisions.map(\.name) == [ofB] && pruneOfB.otherAppliances == [newestOfA])
        #expect(try self.names(first) == [newestOfA, ofB], "B's prune never touches A's backup")

        // Replacement hardware (a fresh identity) sees two appliances: it refuses and lists both ...
        let replacement = try Fixture("select-new")
        func restoreOnReplacement(appliance: String?) async throws -> JobRecord {
            try await replacement.runtime.orchestrator().restore(
                RestoreRequest(target: first.target, store: first.store, manifest: try replacement.manifest(), securityPassword: replacement.password, appliance: appliance))
        }
        let refused = try await restoreOnReplacement(appliance: nil)
        #expect(refused.status == .error && refused.message.contains(idOfA) && refused.message.contains(idOfB) && refused.message.contains("--appliance"), "\(refused.message)")
        // ... until one is chosen.
        let chosen = try await restoreOnReplacement(appliance: idOfB)
        #expect(chosen.status == .completed && chosen.backup == ofB, "\(chosen.message)")
    }

    @Test func replacementHardwareRestoresTheOnlyOtherApplianceAndSaysSo() async throws {
        let old = try Fixture("select-old")
        let newest = try await self.backups(old, count: 1)[0]
        let replacement = try Fixture("select-replacement")
        let record = try await replacement.runtime.orchestrator().restore(
            RestoreRequest(target: old.target, store: old.store, manifest: try replacement.manifest(), securityPassword: replacement.password))
        let idOfOld = try #require(try ApplianceIdentity.read(stateDirectory: old.state)?.id)
        #expect(record.status == .completed && record.backup == newest, "\(record.message)")
        #expect(record.message.contains("restored the newest backup of the only other appliance found, \(idOfOld)"), "\(record.message)")
        // Retention on the replacement never deletes the old appliance's backups.
        let report = try await replacement.runtime.pruner(store: old.store, policy: RetentionPolicy(keepLast: 1), passphrase: replacement.password).runOffPool(dryRun: false)
        #expect(report.decisions.isEmpty && report.otherAppliances == [newest])
        #expect(try self.names(old) == [newest])
    }

    /// A backup written before indexes named their appliance (0.1) counts as this appliance's while no
    /// other identity is present, and only with --appliance once another is.
    @Test func backupsWithoutAnIdentityAreOursOnlyWhenNoOtherIdentityIsPresentOrWhenNamed() async throws {
        let first = try Fixture("select-legacy")
        let legacy = try await self.backups(first, count: 1)[0]
        let forgery = BackupForgery(first.backups + "/" + legacy, password: first.password)
        var sealed = try forgery.sealed()
        sealed.applianceID = nil
        sealed.hostname = nil
        try forgery.writeSealed(sealed)
        let alone = try await first.restore()
        #expect(alone.status == .completed && alone.backup == legacy, "no other identity: the old backup is ours: \(alone.message)")

        // Another appliance starts writing to the same path.
        try await Task.sleep(for: .milliseconds(1100))
        let second = try Fixture("select-legacy-b")
        let request = BackupRequest(target: first.target, store: first.store, manifest: try second.manifest(), securityPassword: second.password)
        let ofB = try await second.runtime.orchestrator().backup(request)
        #expect(ofB.status == .completed)
        let own = try #require(try ApplianceIdentity.read(stateDirectory: first.state)?.id)
        let ambiguous = try await first.restore()
        #expect(ambiguous.status == .error && ambiguous.message.contains("(none)") && ambiguous.message.contains("--appliance"), "\(ambiguous.message)")
        let named = try await first.runtime.orchestrator().restore(
            RestoreRequest(target: first.target, store: first.store, manifest: try first.manifest(), securityPassword: first.password, appliance: own))
        #expect(named.status == .completed && named.backup == legacy, "\(named.message)")
        // Retention does not count or delete it while its owner is not certain.
        let report = try await self.prune(first, keepLast: 1)
        let nameOfB = try #require(ofB.backup)
        #expect(report.decisions.isEmpty && Set(report.otherAppliances) == [legacy, nameOfB], "\(report)")
    }

    /// An appliance that has made backups whose own backups no longer authenticate (damaged) is not
    /// treated as replacement hardware: another appliance's backup is not restored without being named.
    @Test func anApplianceWithHistoryIsNeverGivenAnothersBackupSilently() async throws {
        let first = try Fixture("select-history-a")
        let second = try Fixture("select-history-b")
        let ofB = try await second.runtime.orchestrator().backup(
            BackupRequest(target: first.target, store: first.store, manifest: try second.manifest(), securityPassword: second.password))
        #expect(ofB.status == .completed)
        try await Task.sleep(for: .milliseconds(1100))
        let own = try await self.backups(first, count: 1)[0]
        // A's only backup is moved out of reach (its directory renamed below B's, the copy no longer present).
        #expect(rename(first.backups + "/" + own, first.backups + "/aaa-moved") == 0)
        try first.mutateAppliance()
        let before = try first.snapshot()
        let record = try await first.restore()
        #expect(record.status == .error && record.message.contains("it is not replacement hardware") && record.message.contains("--appliance"), "\(record.message)")
        #expect(try first.snapshot() == before)
    }

    /// A damaged identity file is an error, never silently a new appliance (which could then take
    /// another appliance's backups as replacement hardware).
    @Test func aDamagedIdentityIsRefusedAndLeftAsItIs() async throws {
        let fixture = try Fixture("select-identity")
        _ = try await self.backups(fixture, count: 1)
        let path = fixture.state + "/" + ApplianceIdentity.fileName
        try FileTree.writeAtomically(Data("gw-not-an-identifier\n".utf8), to: path, mode: 0o644)
        let record = try await fixture.restore()
        #expect(record.status == .error && record.message.contains("does not hold an appliance identifier"), "\(record.message)")
        #expect(throws: BackupError.self) { _ = try ApplianceIdentity.loadOrCreate(stateDirectory: fixture.state) }
        #expect(try String(decoding: FileTree.readFile(path), as: UTF8.self) == "gw-not-an-identifier\n", "left for the operator to repair")
    }

    @Test func aScheduledBackupsRetentionNeverDeletesTheBackupItJustMade() async throws {
        let fixture = try Fixture("select-schedule")
        let genuine = try await self.backups(fixture, count: 1)
        // With the password, an attacker dates an authenticated backup far ahead: it becomes the newest.
        let future = BackupForgery(fixture.backups + "/" + genuine[0], password: fixture.password)
        var sealed = try future.sealed()
        sealed.createdEpoch = 32_503_593_600
        try future.writeSealed(sealed)
        var plain = try future.plain()
        plain.createdEpoch = 32_503_593_600
        try future.writePlain(plain)
        let planted = try self.plantManifestOnly(fixture, from: genuine[0], as: "flowgateway-29991231T000000Z")
        try await Task.sleep(for: .milliseconds(1100))

        let credentials = fixture.directory.sub("nightly.credentials")
        try FileTree.writeAtomically(Data(#"{"security_pwd": "\#(fixture.password.revealed)"}"#.utf8), to: credentials, mode: 0o600)
        let schedule = ScheduleConfiguration(
            name: "nightly", cron: "0 2 * * *", timeZone: "UTC", destination: .init(hostname: "localhost", path: fixture.backups),
            credentialsFile: credentials, retention: RetentionPolicy(keepLast: 1))
        var configuration = APIConfiguration()
        configuration.stateDirectory = fixture.state
        let logger = RecordingLogHandler.logger(fixture.logLines)
        let outcome = await ScheduleService.runBackup(
            schedule, catchUp: false, configuration: configuration, runtime: fixture.runtime, supervisor: JobSupervisor(logger: logger), logger: logger)
        let made = try #require(try fixture.runtime.status.backupStatus().lastSuccessful?.backup)
        #expect("\(outcome)".contains("retention kept 2, deleted 0"), "\(outcome)")
        #expect(try self.names(fixture) == [genuine[0], planted, made], "the backup just made, the forged newest and the planted entry all stay")
    }

    @Test func aWrongPasswordDeletesNothingAndSaysSo() async throws {
        let fixture = try Fixture("select-wrong")
        let genuine = try await self.backups(fixture, count: 2)
        let pruner = fixture.runtime.pruner(store: fixture.store, policy: RetentionPolicy(keepLast: 1), passphrase: Secret("not the password"))
        await #expect { _ = try await pruner.runOffPool(dryRun: false) } throws: { error in
            (error as? BackupError)?.code == .wrongPassword && (error as? BackupError)?.message.contains("opens none of the 2 backup(s)") == true
        }
        #expect(try self.names(fixture) == Set(genuine))
    }

    /// The catalog, opened off Swift's cooperative pool (it blocks on gpg for seconds; the pool has a
    /// thread per core, which other tests' servers need).
    func open(_ fixture: Fixture, _ cipher: CountingCipher, password: Secret? = nil) async throws -> AuthenticatedCatalog {
        let (store, passphrase, state) = (fixture.store, password ?? fixture.password, fixture.state)
        return try await Blocking.run { try AuthenticatedCatalog.open(store: store, cipher: cipher, passphrase: passphrase, stateDirectory: state) }
    }

    @Test func theCatalogOpensKnownIndexesWithoutDecryptingThemAgain() async throws {
        let fixture = try Fixture("select-cache")
        _ = try await self.backups(fixture, count: 3)
        let counting = CountingCipher(fixture.runtime.orchestrator().cipher)
        let first = try await self.open(fixture, counting)
        #expect(first.backups.count == 3)
        let afterFirst = counting.decryptions
        let second = try await self.open(fixture, counting)
        #expect(second.backups.map(\.name) == first.backups.map(\.name) && second.backups.map(\.index) == first.backups.map(\.index))
        #expect(counting.decryptions - afterFirst == 1, "one derivation (the cache's key) instead of 3: \(counting.decryptions - afterFirst)")
        // A cache record edited by hand is not believed: that index is decrypted again, and still authenticates.
        let path = fixture.state + "/catalog-cache.json"
        var text = String(decoding: try FileTree.readFile(path), as: UTF8.self)
        text = text.replacingOccurrences(of: "\\\"createdEpoch\\\"", with: "\\\"createdEpoch\\\" ")
        try FileTree.writeAtomically(Data(text.utf8), to: path)
        let beforeEdited = counting.decryptions
        let third = try await self.open(fixture, counting)
        #expect(third.backups.count == 3 && counting.decryptions - beforeEdited == 4, "\(counting.decryptions - beforeEdited)")
        // Another password opens neither the cache nor the backups.
        await #expect { _ = try await self.open(fixture, counting, password: Secret("wrong")) } throws: {
            ($0 as? BackupError)?.code == .wrongPassword
        }
    }
}

/// The real cipher, counting decryptions.
final class CountingCipher: PayloadCipher, @unchecked Sendable {
    let inner: any PayloadCipher
    private let lock = NSLock()
    private var count = 0

    init(_ inner: any PayloadCipher) { self.inner = inner }

    var decryptions: Int { self.lock.withLock { self.count } }

    func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
        try self.inner.encrypt(from: source, to: sink, passphrase: passphrase)
    }

    func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
        self.lock.withLock { self.count += 1 }
        try self.inner.decrypt(from: source, to: sink, passphrase: passphrase)
    }

    func releaseResources() { self.inner.releaseResources() }
}
