import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import BackupSFTP
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// A store that lies (issue 8): an SFTP server under an attacker's control cannot crash the client,
/// stall a job, or have a backup reported COMPLETED that it did not keep.
@Suite("A lying SFTP server")
struct LyingSFTPStoreTests {
    /// A fixture, a lying server over `root` (the fixture's backup directory), and a store on it.
    func setUp(_ mode: String, transferDeadline: Double = 3600) throws -> (Fixture, LyingSFTPServer, SFTPBackupStore, StorageTarget) {
        let fixture = try Fixture("lying-\(mode)")
        try FileTree.makeDirectories(fixture.backups, mode: 0o700)
        let server = try LyingSFTPServer(root: fixture.backups, mode: mode, scratch: fixture.directory)
        let target = StorageTarget(host: "127.0.0.1", username: "gwb", path: "/", port: server.port)
        let generic = try fixture.runtime.store(for: target, credentials: RemoteCredentials(password: Secret(server.password), hostKeyPolicy: "accept-new"))
        var endpoint = try #require((generic as? SFTPBackupStore)?.endpoint)
        endpoint.transferDeadlineSeconds = transferDeadline
        return (fixture, server, SFTPBackupStore(endpoint: endpoint, path: "/"), target)
    }

    func backup(_ fixture: Fixture, _ store: SFTPBackupStore, _ target: StorageTarget) async throws -> JobRecord {
        try await fixture.runtime.orchestrator().backup(BackupRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
    }

    /// A restore through the lying store that must fail with `expected` and change nothing.
    func expectRestoreRefused(_ fixture: Fixture, _ store: SFTPBackupStore, _ target: StorageTarget, _ expected: String) async throws {
        #expect(try await fixture.backup().status == .completed, "a genuine backup, written locally into the served directory")
        try fixture.mutateAppliance()
        let dump = try fixture.databaseDump()
        let before = try fixture.snapshot()
        let record = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(record.status == .error, "\(record.message)")
        #expect(record.message.contains(expected), "\(record.message)")
        #expect(try fixture.snapshot() == before && fixture.databaseDump() == dump)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
    }

    @Test func anHonestParamikoServerBacksUpAndRestores() async throws {
        let (fixture, server, store, target) = try self.setUp("honest")
        defer { withExtendedLifetime(server) {} }
        let record = try await self.backup(fixture, store, target)
        #expect(record.status == .completed, "\(record.message)")
        let verified = try await fixture.runtime.orchestrator().backup(
            BackupRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password, verifyAfterCommit: true))
        #expect(verified.status == .completed, "read back and verified: \(verified.message)")
        try fixture.mutateAppliance()
        let restored = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(restored.status == .completed, "\(restored.message)")
    }

    @Test func aStatusCodeBeyondInt32IsAnErrorNotACrash() async throws {
        let (fixture, server, store, target) = try self.setUp("huge-status")
        defer { withExtendedLifetime(server) {} }
        try await self.expectRestoreRefused(fixture, store, target, "SFTP status 2147483653")
    }

    @Test func anEndlessDirectoryTreeIsRefusedNotFollowed() async throws {
        let (fixture, server, store, target) = try self.setUp("endless-tree")
        defer { withExtendedLifetime(server) {} }
        let record = try await self.backup(fixture, store, target)
        #expect(record.status == .error && record.message.contains("nested more than 64 levels"), "\(record.message)")
    }

    @Test func aNameTooLongToUseIsSkippedNotFatal() async throws {
        let (fixture, server, store, target) = try self.setUp("long-name")
        defer { withExtendedLifetime(server) {} }
        #expect(try await fixture.backup().status == .completed)
        let record = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(record.status == .completed, "\(record.message)")
    }

    @Test(arguments: [
        ("drop-writes", "the store did not keep the backup as written"),
        ("alter-index", "its authenticated index (index.json.gpg) reads back different from what was written"),
        ("fake-rename", "is not listed as a complete backup after its commit"),
        ("fsync-fails", "fsync"),
    ])
    func aServerThatDropsDataNeverGetsACompletedBackup(mode: String, expected: String) async throws {
        let (fixture, server, store, target) = try self.setUp(mode)
        defer { withExtendedLifetime(server) {} }
        let record = try await self.backup(fixture, store, target)
        #expect(record.status == .error, "\(record.message)")
        #expect(record.message.contains(expected), "\(record.message)")
        #expect(try fixture.runtime.status.backupStatus().lastSuccessful == nil, "nothing counts as the last successful backup")
    }

    @Test func everyComponentIsReadBackWholeBeforeCompleted() async throws {
        // A server whose reads of component files never end: sizes and the index check out, the
        // component content does not. Read back by default, without --verify.
        let (fixture, server, store, target) = try self.setUp("endless-read")
        defer { withExtendedLifetime(server) {} }
        let plain = try await self.backup(fixture, store, target)
        #expect(plain.status == .error && plain.message.contains("reads back as more than"), "\(plain.message)")
        let request = BackupRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password, verifyAfterCommit: true)
        let verified = try await fixture.runtime.orchestrator().backup(request)
        #expect(verified.status == .error, "\(verified.message)")
        #expect(try fixture.runtime.status.backupStatus().lastSuccessful == nil)
    }

    /// A server that stores zeros of the right size: the read-back's SHA-256 catches it, and the backup
    /// it committed counts for nothing afterwards, neither as the newest to restore nor for retention.
    @Test func zerosOfTheRightSizeAreCaughtAndTheUntrustedBackupCountsForNothing() async throws {
        let (fixture, server, store, target) = try self.setUp("zero-writes")
        defer { withExtendedLifetime(server) {} }
        let genuine = try await fixture.backup()
        #expect(genuine.status == .completed, "a genuine backup, written locally into the served directory")
        try await Task.sleep(for: .milliseconds(1100))
        let record = try await self.backup(fixture, store, target)
        #expect(record.status == .error && record.message.contains("reads back with other bytes than were written") && record.message.contains("must not be trusted"), "\(record.message)")
        let untrusted = try #require(record.backup)
        let report = try await fixture.runtime.pruner(store: store, policy: RetentionPolicy(keepLast: 1), passphrase: fixture.password).runOffPool(dryRun: false)
        #expect(report.decisions.map(\.name) == [genuine.backup] && report.decisions[0].keep, "\(report.decisions)")
        #expect(report.unverified.map(\.name) == [untrusted] && report.unverified[0].reason.contains("not read back as written"))
        #expect(Set(try FileTree.names(in: fixture.backups)).isSuperset(of: [try #require(genuine.backup), untrusted]), "nothing deleted")
        let restore = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(restore.status == .error && restore.message.contains(untrusted) && restore.message.contains("--backup"), "\(restore.message)")
    }

    /// Manifests and indexes that drip a byte every 2 s: the job deadline ends the wait, for restore
    /// and prune alike, and nothing is deleted or changed.
    @Test func aDrippingStoreIsCutOffByTheJobDeadline() async throws {
        let (fixture, server, store, target) = try self.setUp("drip")
        defer { withExtendedLifetime(server) {} }
        #expect(try await fixture.backup().status == .completed)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        var orchestrator = fixture.runtime.orchestrator()
        orchestrator.jobDeadlineSeconds = 4
        let restore = try await orchestrator.restore(RestoreRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(restore.status == .error && restore.message.contains("deadline of 4 s"), "\(restore.message)")
        #expect(try fixture.snapshot() == before)
        let (_, _, pruneStore, _) = (fixture, server, try self.reopen(store), target)
        var pruner = fixture.runtime.pruner(store: pruneStore, policy: RetentionPolicy(keepLast: 1), passphrase: fixture.password)
        pruner.deadlineSeconds = 4
        await #expect { _ = try await pruner.runOffPool(dryRun: false) } throws: { error in
            (error as? BackupError)?.code == .interrupted && (error as? BackupError)?.message.contains("deadline of 4 s") == true
        }
        #expect(try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.count == 1)
    }

    /// A server asked to stop while its job is stuck on a dripping store stops within its grace: the
    /// job is interrupted (its store connection shut down) and recorded ERROR, never left EXECUTING
    /// (issue 23: the stop once waited for the job whatever the grace said).
    @Test func aServerStopsWhileItsJobIsStuckOnAStore() async throws {
        let (fixture, server, _, _) = try self.setUp("drip")
        defer { withExtendedLifetime(server) {} }
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        #expect(try await fixture.backup().status == .completed)
        let api = try await APIServer.start(fixture)
        let body = #"{"hostname":"127.0.0.1","port":\#(server.port),"username":"gwb","password":"\#(server.password)","path":"/","security_pwd":"\#(fixture.password.revealed)"}"#
        #expect(try await api.call("POST", "\(APIServerTests.base)/restore", body: body).status == 204)
        // Stuck: the index drips a byte every 2 s.
        try await Task.sleep(for: .seconds(3))
        let during = try await api.call("GET", "\(APIServerTests.base)/restore")
        #expect(during.object["status"] as? String == "EXECUTING", "\(during.body)")
        let clock = ContinuousClock()
        let start = clock.now
        await api.stop()
        let took = clock.now - start
        // The bound that matters is the unit's TimeoutStopSec (45 s), past which systemd kills the
        // server: the grace (20 s) plus a loaded machine's slack (25.07 s once in a full run). A
        // stop that waited for the job would wait for the dripping index much longer.
        #expect(took < .seconds(45), "the stop took \(took); its grace is 20 s, the unit's stop timeout 45 s")
        let record = try fixture.runtime.status.restoreStatus()
        #expect(record.status == .error && record.message.contains("interrupted"), "\(record.status) \(record.message)")
    }

    /// A listing of 10 MB of names is refused at its byte bound, not held in memory.
    @Test func aListingIsBoundedInBytes() async throws {
        let (fixture, server, store, target) = try self.setUp("wide-listing")
        defer { withExtendedLifetime(server) {} }
        // Off the cooperative pool: 40,000 names from paramiko take seconds, which other tests' servers need.
        await #expect { _ = try await Blocking.run { try store.listEntries() } } throws: { error in
            (error as? BackupError)?.message.contains("bytes of names") == true
        }
        let record = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: target, store: store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(record.status == .error && record.message.contains("bytes of names"), "\(record.message)")
    }

    /// A store like `store`, not interrupted.
    func reopen(_ store: SFTPBackupStore) throws -> SFTPBackupStore {
        SFTPBackupStore(endpoint: store.endpoint, path: store.path)
    }

    @Test func aConnectionLostJustAfterTheCommitIsCheckedNotGuessed() async throws {
        let (fixture, server, store, target) = try self.setUp("drop-after-commit")
        defer { withExtendedLifetime(server) {} }
        let record = try await self.backup(fixture, store, target)
        // The rename went through before the connection dropped: the backup is there, read back, complete.
        #expect(record.status == .completed, "\(record.message)")
        #expect(try FileTree.names(in: fixture.backups).contains { $0.hasPrefix("flowgateway-") })
    }

    @Test func anEndlessComponentFileIsReadNoFurtherThanItsSize() async throws {
        let (fixture, server, store, target) = try self.setUp("endless-read")
        defer { withExtendedLifetime(server) {} }
        try await self.expectRestoreRefused(fixture, store, target, "is longer than the")
    }

    /// A server streaming a component endlessly under a plain manifest claiming a terabyte: the plain
    /// manifest disagrees with the authenticated index, and not a byte of the component is read.
    @Test func anEndlessFileTheIndexDoesNotVouchForIsReadNoFurtherOnceRefused() async throws {
        // A deadline far below the time a terabyte would take, and above what the refusal takes.
        let (fixture, server, store, target) = try self.setUp("endless-read", transferDeadline: 120)
        defer { withExtendedLifetime(server) {} }
        #expect(try await fixture.backup().status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        var plain = try forgery.plain()
        let largest = try #require(plain.components.indices.max { (plain.components[$0].size ?? 0) < (plain.components[$1].size ?? 0) })
        plain.components[largest].size = 1 << 40
        try forgery.writePlain(plain)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        // The index is authenticated only once 16 MiB were read or after 3 s, as on a loaded machine
        // (CI read 332 MB while the index took its time): what is read before the index vouches for
        // the file must be bounded by size, not by how long the index takes.
        let counted = ReadCountingStore(store, holdingIndexUntil: 16 << 20, for: 3)
        let record = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: target, store: counted, manifest: try fixture.manifest(), securityPassword: fixture.password))
        #expect(record.status == .error, "\(record.message)")
        #expect(record.message.contains("does not agree with its authenticated index"), "\(record.message)")
        // The genuine backup is a few KiB; the early decryption may read 4 MiB before the index decides.
        #expect(counted.componentBytes < 16 << 20, "the endless file was read no further than the unvouched limit: \(counted.componentBytes) bytes")
        #expect(try fixture.snapshot() == before)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
    }

    @Test func aStalledServerMeetsTheTransferDeadline() async throws {
        let (fixture, server, store, target) = try self.setUp("slow", transferDeadline: 2)
        defer { withExtendedLifetime(server) {} }
        try await self.expectRestoreRefused(fixture, store, target, "took longer than its deadline of 2 s")
    }
}

/// A store that counts the bytes read from its component files (the index included). With
/// `holdingIndexUntil`, opening the sealed index waits until that many bytes of component files were
/// read or `for` seconds passed: the window in which a restore reads what the index does not yet vouch
/// for is made as wide as a slow machine's.
final class ReadCountingStore: BackupStore, @unchecked Sendable {
    let store: any BackupStore
    private let condition = NSCondition()
    private var count: UInt64 = 0
    private let hold: (bytes: UInt64, seconds: Double)?
    private var holdMet = false

    init(_ store: any BackupStore, holdingIndexUntil bytes: UInt64? = nil, for seconds: Double = 0) {
        self.store = store
        self.hold = bytes.map { ($0, seconds) }
    }

    var componentBytes: UInt64 { self.condition.withLock { self.count } }
    /// Whether the sealed index was opened because enough was read (not because time ran out).
    var indexWaitedForTheBytes: Bool { self.condition.withLock { self.holdMet } }

    var displayName: String { self.store.displayName }
    func location(of backup: String) -> String { self.store.location(of: backup) }
    func listEntries() throws -> [StoredEntry] { try self.store.listEntries() }
    func beginBackup(name: String) throws -> any BackupWriter { try self.store.beginBackup(name: name) }
    func readIndex(backup: String) throws -> [UInt8] { try self.store.readIndex(backup: backup) }
    func sizeOfComponent(backup: String, file: String) throws -> UInt64 { try self.store.sizeOfComponent(backup: backup, file: file) }
    func deleteBackup(name: String) throws { try self.store.deleteBackup(name: name) }
    func removeLeftover(entry: String) throws { try self.store.removeLeftover(entry: entry) }
    func createFile(backup: String, file: String) throws -> any ByteSink { try self.store.createFile(backup: backup, file: file) }
    func removeFile(backup: String, file: String) throws { try self.store.removeFile(backup: backup, file: file) }
    func renameFile(backup: String, file: String, to newName: String) throws { try self.store.renameFile(backup: backup, file: file, to: newName) }
    func fileNames(backup: String) throws -> [String] { try self.store.fileNames(backup: backup) }
    func close() { self.store.close() }

    func openComponent(backup: String, file: String) throws -> any ByteSource {
        if file == SealedIndex.fileName, let hold = self.hold {
            let deadline = Date().addingTimeInterval(hold.seconds)
            self.condition.withLock {
                while self.count < hold.bytes, self.condition.wait(until: deadline) {}
                self.holdMet = self.count >= hold.bytes
            }
        }
        return Counted(try self.store.openComponent(backup: backup, file: file), owner: self)
    }

    func add(_ bytes: Int) {
        self.condition.withLock {
            self.count += UInt64(bytes)
            self.condition.broadcast()
        }
    }

    final class Counted: ByteSource {
        let source: any ByteSource
        let owner: ReadCountingStore

        init(_ source: any ByteSource, owner: ReadCountingStore) {
            self.source = source
            self.owner = owner
        }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            let count = try self.source.read(into: buffer)
            self.owner.add(count)
            return count
        }
    }
}
