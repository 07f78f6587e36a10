import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
@testable import BackupSFTP
import Foundation
import GatewayBackupTestSupport
import Testing

/// Backups over SFTP, against OpenSSH's sshd on loopback. Serialized: one test kills connections.
@Suite("SFTP storage against a real sshd", .serialized)
struct SFTPStoreTests {
    let bed: SSHTestBed

    init() throws {
        self.bed = try SSHTestBed.start()
    }

    /// A remote path of its own for each test.
    func remotePath(_ label: String) -> String { "gwb-tests/\(label)-\(UUID().uuidString.prefix(8))" }

    func store(_ fixture: Fixture, path: String, password: Secret? = nil, policy: String = "accept-new", port: Int? = nil) throws -> any BackupStore {
        try fixture.runtime.store(
            for: StorageTarget(host: "127.0.0.1", username: self.bed.user, path: path, port: port ?? self.bed.port),
            credentials: RemoteCredentials(password: password ?? self.bed.password, hostKeyPolicy: policy))
    }

    func backup(_ fixture: Fixture, store: any BackupStore, path: String, manifest: Manifest? = nil) async throws -> JobRecord {
        let request = BackupRequest(target: StorageTarget(host: "127.0.0.1", username: self.bed.user, path: path, port: self.bed.port), store: store, manifest: try manifest ?? fixture.manifest(), securityPassword: fixture.password)
        return try await fixture.runtime.orchestrator().backup(request)
    }

    func restore(_ fixture: Fixture, store: any BackupStore, path: String) async throws -> JobRecord {
        let request = RestoreRequest(target: StorageTarget(host: "127.0.0.1", username: self.bed.user, path: path, port: self.bed.port), store: store, manifest: try fixture.manifest(), securityPassword: fixture.password)
        return try await fixture.runtime.orchestrator().restore(request)
    }

    @Test func aHostileRemoteStoreCannotFeedARestore() async throws {
        let fixture = try Fixture("sftp-hostile")
        let path = self.remotePath("hostile")
        let store = try self.store(fixture, path: path)
        #expect(try await self.backup(fixture, store: store, path: path).status == .completed)
        let names = try self.bed.remoteNames(path).filter { !$0.hasPrefix(".") }
        let directory = self.bed.home + "/" + path + "/" + (try #require(names.first))
        try fixture.mutateAppliance()
        let dump = try fixture.databaseDump()
        let before = try fixture.snapshot()
        // A component file that is a link to an endless device on the server.
        try FileTree.rename(directory + "/ntp.tar.zst.gpg", to: directory + "/ntp.saved")
        #expect(symlink("/dev/zero", directory + "/ntp.tar.zst.gpg") == 0)
        let endless = try await self.restore(fixture, store: store, path: path)
        #expect(endless.status == .error && endless.message.contains("ntp.tar.zst.gpg in backup \(names[0])") && endless.message.contains("is not a regular file"), "\(endless.message)")
        try FileTree.remove(directory + "/ntp.tar.zst.gpg")
        try FileTree.rename(directory + "/ntp.saved", to: directory + "/ntp.tar.zst.gpg")
        // The plain manifest's copy of the manifest asks for a command: it is never used.
        let marker = fixture.directory.sub("owned")
        let forgery = BackupForgery(directory, password: fixture.password)
        var plain = try forgery.plain()
        let config = try #require(plain.manifest.components.firstIndex { $0.name == "config" })
        plain.manifest.components[config].parameters["reload_command"] = .array([.string("/bin/sh"), .string("-c"), .string("id > \(marker)")])
        try forgery.writePlain(plain)
        #expect(try shell("chown --reference=\(directory) \(directory)/manifest.json").status == 0)
        #expect(try fixture.snapshot() == before && fixture.databaseDump() == dump)
        let restored = try await self.restore(fixture, store: store, path: path)
        #expect(restored.status == .completed, "\(restored.message)")
        #expect(try FileStatus.of(marker) == nil)
        // The plain manifest says another size for a component: refused as tampered.
        plain.components[1].size = (plain.components[1].size ?? 0) + 1
        try forgery.writePlain(plain)
        #expect(try shell("chown --reference=\(directory) \(directory)/manifest.json").status == 0)
        let tampered = try await self.restore(fixture, store: store, path: path)
        #expect(tampered.status == .error && tampered.message.contains("does not agree with its authenticated index"), "\(tampered.message)")
    }

    @Test func pruneOverSFTPDeletesBeyondThePolicyAndLeavesTheRest() async throws {
        let fixture = try Fixture("sftp-prune")
        let path = self.remotePath("prune")
        let store = try self.store(fixture, path: path)
        let first = try await self.backup(fixture, store: store, path: path)
        let second = try await self.backup(fixture, store: store, path: path)
        #expect(first.status == .completed && second.status == .completed)
        try FileTree.makeDirectories(self.bed.home + "/" + path + "/someone-elses")
        let report = try await fixture.runtime.pruner(store: store, policy: RetentionPolicy(keepLast: 1), passphrase: fixture.password).runOffPool(dryRun: false)
        #expect(report.decisions.map(\.keep) == [true, false])
        let left = try self.bed.remoteNames(path)
        let kept = try #require(second.backup)
        let deleted = try #require(first.backup)
        #expect(left.contains(kept) && !left.contains(deleted) && left.contains("someone-elses"), "\(left)")
    }

    /// Issue 21 over the real sshd: a planted manifest-only directory dated 2999, an operator's copy
    /// and another appliance's backup on the same account and path: prune deletes only this appliance's
    /// older authenticated backup, restore never takes the planted entry nor falls back silently, and
    /// each appliance restores its own.
    @Test func overSFTPOnlyAuthenticatedBackupsOfThisApplianceAreChosenOrDeleted() async throws {
        let first = try Fixture("sftp-select-a")
        let second = try Fixture("sftp-select-b")
        let path = self.remotePath("select")
        let storeOfA = try self.store(first, path: path)
        let storeOfB = try self.store(second, path: path)
        let older = try await self.backup(first, store: storeOfA, path: path)
        try await Task.sleep(for: .milliseconds(1100))
        let ofB = try await self.backup(second, store: storeOfB, path: path)
        try await Task.sleep(for: .milliseconds(1100))
        let newest = try await self.backup(first, store: storeOfA, path: path)
        #expect(older.status == .completed && ofB.status == .completed && newest.status == .completed)
        let (olderName, nameOfB, newestName) = (try #require(older.backup), try #require(ofB.backup), try #require(newest.backup))
        let remote = self.bed.home + "/" + path
        // Planted by whoever controls the account: a manifest-only directory dated 2999, and a copy.
        var plain = try BackupForgery(remote + "/" + newestName, password: first.password).plain()
        plain.name = "flowgateway-29990101T000000Z"
        plain.createdEpoch = 32_503_593_600
        #expect(try shell("mkdir \(remote)/\(plain.name) && cp -a \(remote)/\(newestName) \(remote)/\(newestName).copy").status == 0)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(plain), to: remote + "/" + plain.name + "/manifest.json", mode: 0o644)
        #expect(try shell("chown -R --reference=\(remote) \(remote)/\(plain.name) \(remote)/\(newestName).copy").status == 0)

        let report = try await first.runtime.pruner(store: storeOfA, policy: RetentionPolicy(keepLast: 1), passphrase: first.password).runOffPool(dryRun: false)
        #expect(report.decisions.map(\.name) == [newestName, olderName] && report.decisions.map(\.keep) == [true, false], "\(report.decisions)")
        #expect(Set(report.unverified.map(\.name)) == [plain.name, newestName + ".copy"] && report.otherAppliances == [nameOfB])
        #expect(Set(try self.bed.remoteNames(path).filter { !$0.hasPrefix(".") }) == [newestName, nameOfB, plain.name, newestName + ".copy"])

        try first.mutateAppliance()
        let refused = try await self.restore(first, store: storeOfA, path: path)
        #expect(refused.status == .error && refused.message.contains(plain.name), "not silently older: \(refused.message)")
        let request = RestoreRequest(
            target: StorageTarget(host: "127.0.0.1", username: self.bed.user, path: path, port: self.bed.port), store: storeOfA, manifest: try first.manifest(),
            securityPassword: first.password, backup: newestName)
        let chosen = try await first.runtime.orchestrator().restore(request)
        #expect(chosen.status == .completed && chosen.backup == newestName, "\(chosen.message)")
        try FileTree.remove(remote + "/" + plain.name)
        let restoredB = try await self.restore(second, store: storeOfB, path: path)
        #expect(restoredB.status == .completed && restoredB.backup == nameOfB, "B restores its own: \(restoredB.message)")

        // A lowered plain time, then an index that does not open, on A's newest: never a silent older one.
        let newestForgery = BackupForgery(remote + "/" + newestName, password: first.password)
        var lowered = try newestForgery.plain()
        lowered.createdEpoch = 1_000
        try newestForgery.writePlain(lowered)
        #expect(try shell("chown --reference=\(remote) \(remote)/\(newestName)/manifest.json").status == 0)
        let tampered = try await self.restore(first, store: storeOfA, path: path)
        #expect(tampered.status == .error && tampered.message.contains("backup \(newestName): its plain manifest.json does not agree"), "\(tampered.message)")
        var index = try FileTree.readFile(remote + "/" + newestName + "/" + SealedIndex.fileName)
        index[index.count - 30] ^= 0x01
        try BackupForgery.replaceFile(remote + "/" + newestName + "/" + SealedIndex.fileName, with: index)
        #expect(try shell("chown --reference=\(remote) \(remote)/\(newestName)/\(SealedIndex.fileName)").status == 0)
        let damaged = try await self.restore(first, store: storeOfA, path: path)
        #expect(damaged.status == .error && damaged.message.contains("\(newestName) (its index does not authenticate"), "\(damaged.message)")
        let untouched = try await first.runtime.pruner(store: storeOfA, policy: RetentionPolicy(keepLast: 1), passphrase: first.password).runOffPool(dryRun: false)
        #expect(untouched.decisions.isEmpty && untouched.unverified.contains { $0.name == newestName }, "\(untouched)")
        #expect(try self.bed.remoteNames(path).contains(newestName), "nothing deleted")
    }

    @Test func anIdleConnectionSendsKeepalivesAndStaysUsable() async throws {
        let fixture = try Fixture("sftp-keepalive")
        var endpoint = try #require((try self.store(fixture, path: ".") as? SFTPBackupStore)?.endpoint)
        endpoint.keepaliveSeconds = 0.3
        let store = SFTPBackupStore(endpoint: endpoint, path: self.remotePath("keepalive"))
        _ = try? store.listEntries()
        #expect(store.keepalivesSent == 0)
        // Wait for the condition, with a deadline.
        for _ in 0..<200 where store.keepalivesSent < 2 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(store.keepalivesSent >= 2, "keepalives while idle: \(store.keepalivesSent)")
        // The replies were read and the session is intact: the next call works on the same connection.
        let writer = try store.beginBackup(name: "after-keepalives")
        writer.abort()
    }

    /// libssh2 sends each SFTP read request as a small packet of its own; with Nagle's algorithm on,
    /// each waited for the previous one's acknowledgement (a download at two thirds of OpenSSH's
    /// speed). Speed is `make bench`'s to measure; this checks the setting that gives it.
    @Test func theConnectionSendsSmallRequestsAtOnce() throws {
        let fixture = try Fixture("sftp-nodelay")
        let endpoint = try #require((try self.store(fixture, path: ".") as? SFTPBackupStore)?.endpoint)
        let session = try SSHSession(endpoint)
        #expect(session.sendsSmallPacketsAtOnce, "TCP_NODELAY is set on the connection")
    }

    @Test func backupAndRestoreRoundTripAndTheFilesOpenWithStockTools() async throws {
        let fixture = try Fixture("sftp")
        let path = self.remotePath("roundtrip")
        let before = try fixture.snapshotWithoutDatabase()
        let dump = try fixture.databaseDump()
        let store = try self.store(fixture, path: path)
        let record = try await self.backup(fixture, store: store, path: path)
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.subdir == "\(path)/\(record.backup ?? "")")
        let known = try String(decoding: FileTree.readFile(fixture.state + "/known_hosts.json"), as: UTF8.self)
        #expect(known.contains(self.bed.fingerprint), "the host key is recorded on first use")

        // Copy the backup back with OpenSSH's sftp and open it with stock gpg and tar.
        let local = fixture.directory.sub("fetched")
        try FileTree.makePrivateDirectory(local)
        let fetched = try self.bed.sftp("get -r \(path)/\(record.backup ?? "") \(local)\n")
        #expect(fetched.status == 0, "\(fetched.output)")
        let opened = try shell("""
            export GNUPGHOME=\(fixture.directory.sub("gnupg")); mkdir -p -m 700 $GNUPGHOME; mkdir \(local)/x
            gpg --batch --pinentry-mode loopback --passphrase-file \(fixture.passwordFile) --decrypt \(local)/\(record.backup ?? "")/snmp.tar.zst.gpg | tar --zstd -xpf - -C \(local)/x
            status=$?; gpgconf --kill gpg-agent; exit $status
            """)
        #expect(opened.status == 0, "\(opened.output)")
        #expect(try FileTree.readFile(local + "/x/etc/snmp/snmpd.conf") == FileTree.readFile(fixture.root + "/etc/snmp/snmpd.conf"))

        try fixture.mutateAppliance()
        let restored = try await self.restore(fixture, store: try self.store(fixture, path: path), path: path)
        #expect(restored.status == .completed, "\(restored.message)")
        #expect(try fixture.databaseDump() == dump)
        #expect(try fixture.snapshotWithoutDatabase() == before)
    }

    /// A rotation between removing the old plain manifest and renaming the new one into place, and
    /// between removing the old index and renaming the new one: the SFTP store lists the backup as
    /// complete and reads the pending files (the rotation campaign reads the same states as a local
    /// store; this drives the SFTP store's own fallbacks).
    @Test func aRotationsPendingManifestAndIndexAreReadOverSFTP() async throws {
        let fixture = try Fixture("sftp-pending")
        let path = self.remotePath("pending")
        let store = try self.store(fixture, path: path)
        defer { store.close() }
        let name = try #require(try await self.backup(fixture, store: store, path: path).backup)
        let directory = self.bed.home + "/" + path + "/" + name
        let plain = try FileTree.readFile(directory + "/manifest.json")
        let sealed = try FileTree.readFile(directory + "/index.json.gpg")
        #expect(rename(directory + "/manifest.json", directory + "/manifest.next.json") == 0)
        #expect(rename(directory + "/index.json.gpg", directory + "/index.next.json.gpg") == 0)
        let entries = try await Blocking.run { try store.listEntries() }
        #expect(entries.first { $0.name == name }?.kind == .complete, "\(entries)")
        #expect(try await Blocking.run { try store.readIndex(backup: name) } == [UInt8](plain))
        // The index's own name is gone; the store's index read takes the pending one.
        await #expect(throws: BackupError.self) { _ = try await Blocking.run { try store.readSmallFile(backup: name, file: "index.json.gpg") } }
        let pending = try await Blocking.run { () -> [UInt8] in
            let sink = BoundedMemorySink(limit: 1 << 20, what: "index")
            _ = try store.openSealedIndex(backup: name).copy(to: sink)
            return sink.bytes
        }
        #expect(pending == [UInt8](sealed))
        // And the whole backup still restores from those files.
        let restored = try await self.restore(fixture, store: store, path: path)
        #expect(restored.status == .completed, "\(restored.message)")
        _ = try shell("rm -rf \(self.bed.home)/\(path)")
    }

    @Test func publicKeyAuthenticationWorks() async throws {
        let fixture = try Fixture("sftp")
        let path = self.remotePath("pubkey")
        let store = try fixture.runtime.store(
            for: StorageTarget(host: "127.0.0.1", username: self.bed.user, path: path, port: self.bed.port),
            credentials: RemoteCredentials(identityFile: self.bed.clientKey))
        let record = try await self.backup(fixture, store: store, path: path)
        #expect(record.status == .completed, "\(record.message)")
    }

    /// A backup that must fail before anything is committed remotely.
    func expectRefused(_ fixture: Fixture, store: any BackupStore, path: String, messageContains expected: String) async throws {
        let record = try await self.backup(fixture, store: store, path: path)
        #expect(record.status == .error)
        #expect(record.message.contains(expected), "\(record.message)")
        #expect(try self.bed.remoteNames(path).filter { !$0.hasPrefix(".") }.isEmpty, "nothing committed")
        #expect(!record.message.contains(self.bed.password.revealed))
    }

    @Test func aWrongPasswordIsRefusedAndNothingIsCommitted() async throws {
        let fixture = try Fixture("sftp")
        let path = self.remotePath("wrongpw")
        try await self.expectRefused(fixture, store: try self.store(fixture, path: path, password: Secret("not-it")), path: path, messageContains: "authentication of \(self.bed.user) on 127.0.0.1:\(self.bed.port) failed")
    }

    @Test func unknownAndChangedHostKeysAreRefusedBeforeLogin() async throws {
        let fixture = try Fixture("sftp")
        let path = self.remotePath("hostkey")
        try await self.expectRefused(fixture, store: try self.store(fixture, path: path, policy: "strict"), path: path, messageContains: "is not a known host")
        try await self.expectRefused(fixture, store: try self.store(fixture, path: path, policy: "fingerprint:SHA256:AAAAexpected"), path: path, messageContains: "not the expected SHA256:AAAAexpected")
        try fixture.directory.write("state/known_hosts.json", #"{"127.0.0.1:\#(self.bed.port)": {"ssh-ed25519": "SHA256:oldkeyoldkeyoldkey"}}"#)
        try await self.expectRefused(fixture, store: try self.store(fixture, path: path), path: path, messageContains: "has CHANGED: recorded ssh-ed25519 SHA256:oldkeyoldkeyoldkey, now \(self.bed.fingerprint)")
        // Pinned to the right key, it connects.
        let pinned = try await self.backup(fixture, store: try self.store(fixture, path: path, policy: "fingerprint:\(self.bed.fingerprint)"), path: path)
        #expect(pinned.status == .completed, "\(pinned.message)")
    }

    @Test func anUnwritablePathAndARefusedConnectionFailClearly() async throws {
        let fixture = try Fixture("sftp")
        let record = try await self.backup(fixture, store: try self.store(fixture, path: "/root/not-allowed"), path: "/root/not-allowed")
        #expect(record.status == .error)
        #expect(record.message.contains("permission denied"), "\(record.message)")
        let closed = try shell("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'").output.trimmingCharacters(in: .whitespacesAndNewlines)
        let refused = try await self.backup(fixture, store: try self.store(fixture, path: "x", port: Int(closed)), path: "x")
        #expect(refused.status == .error)
        #expect(refused.message.contains("cannot connect to 127.0.0.1:\(closed): Connection refused"), "\(refused.message)")
    }

    @Test func aFullRemoteDiskFailsTheBackupAndLeavesNothingBehind() async throws {
        let fixture = try Fixture("sftp")
        let mountPoint = self.bed.home + "/gwb-small-disk"
        try FileTree.makeDirectories(mountPoint)
        let mounted = try shell("mount -t tmpfs -o size=64k,mode=0700,uid=$(id -u \(self.bed.user)) tmpfs \(mountPoint)")
        #expect(mounted.status == 0, "\(mounted.output)")
        // A process still holding a file there (a slow gpg on a loaded machine) must not leave the
        // mount behind: detach it lazily then.
        defer { _ = try? shell("umount \(mountPoint) || umount --lazy \(mountPoint)") }
        // Random bytes: gpg cannot compress them below the 64 KiB the remote disk has.
        _ = try shell("head -c 1048576 /dev/urandom > \(fixture.root)/var/lib/flowgateway/big.db")
        var manifest = try fixture.manifest()
        manifest.components.insert(ManifestComponent(name: "big", plugin: "fileset", parameters: ["paths": .array([.string("var/lib/flowgateway/big.db")])]), at: 0)
        let record = try await self.backup(fixture, store: try self.store(fixture, path: "gwb-small-disk/backups"), path: "gwb-small-disk/backups", manifest: manifest)
        #expect(record.status == .error)
        #expect(record.message.contains("no space left") || record.message.contains("failure"), "\(record.message)")
        #expect(try self.bed.remoteNames("gwb-small-disk/backups").isEmpty, "the partial backup was removed")
    }

    /// Every component at once over one SSH session: each call on the session holds the store's
    /// lock, and so does closing a stream let go on another thread (it did not, and the session's
    /// packets were corrupted: "Mismatched MAC", then a crash in libcrypto).
    @Test func allComponentsAtOnceShareOneSessionSafely() async throws {
        let fixture = try Fixture("sftp-jobs")
        let path = self.remotePath("jobs")
        let store = try self.store(fixture, path: path)
        let target = StorageTarget(host: "127.0.0.1", username: self.bed.user, path: path, port: self.bed.port)
        let manifest = try fixture.manifest()
        for round in 1...3 {
            let backup = try await fixture.runtime.orchestrator().backup(BackupRequest(
                target: target, store: store, manifest: manifest, securityPassword: fixture.password, verifyAfterCommit: true, jobs: manifest.components.count))
            #expect(backup.status == .completed, "round \(round): \(backup.message)")
            try fixture.mutateAppliance()
            let restore = try await fixture.runtime.orchestrator().restore(RestoreRequest(
                target: target, store: store, manifest: manifest, securityPassword: fixture.password, jobs: manifest.components.count))
            #expect(restore.status == .completed, "round \(round): \(restore.message)")
            #expect(try fixture.directory.read("appliance/etc/snmp/snmpd.conf") != "rocommunity public\n")
        }
    }

    /// The bytes of the regular files below `directory` (0 when it cannot be read).
    static func bytesBelow(_ directory: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return 0 }
        var total = 0
        while let name = walker.nextObject() as? String {
            if let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + name),
                attributes[.type] as? FileAttributeType == .typeRegular, let size = attributes[.size] as? Int {
                total += size
            }
        }
        return total
    }

    @Test func aConnectionDroppedMidUploadLeavesNoCompleteBackupAndRestoreUsesThePreviousOne() async throws {
        let fixture = try Fixture("sftp")
        let path = self.remotePath("drop")
        let first = try await self.backup(fixture, store: try self.store(fixture, path: path), path: path)
        #expect(first.status == .completed, "\(first.message)")
        let ntp = try fixture.directory.read("appliance/etc/ntp.conf")

        // A large component makes the upload long enough to cut.
        let bulk = Data(count: 1 << 20)
        try FileTree.makeDirectories(fixture.root + "/var/bulk")
        let output = try FileDescriptorStream.create(fixture.root + "/var/bulk/data.bin")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<256 {
            var chunk = bulk
            chunk.withUnsafeMutableBytes { raw in for index in stride(from: 0, to: raw.count, by: 8) { raw.storeBytes(of: generator.next(), toByteOffset: index, as: UInt64.self) } }
            try chunk.withUnsafeBytes { try output.write($0) }
        }
        try output.finish()
        var manifest = try fixture.manifest()
        manifest.components.insert(ManifestComponent(name: "bulk", plugin: "fileset", parameters: ["paths": .array([.string("var/bulk")])]), at: 1)
        // This backup goes through an sshd of its own, whose connections the test can cut without
        // cutting those of the tests running beside it.
        let listener = try self.bed.privateListener()
        defer { listener.stop() }
        let store = try self.store(fixture, path: path, port: listener.bed.port)
        let statusStore = fixture.runtime.status
        let remote = self.bed.home + "/" + path
        let dropper = Task {
            // Cut the connection once 32 MiB of the large component reached the server: a condition
            // on the upload itself, not a delay (the 256 MiB compress, encrypt and upload for seconds).
            for _ in 0..<1200 {
                try await Task.sleep(for: .milliseconds(25))
                let status = try? statusStore.backupStatus()
                if status?.running.components.first(where: { $0.name == "bulk" })?.status == .running, Self.bytesBelow(remote) > 32 << 20 {
                    listener.dropConnections()
                    return
                }
            }
        }
        let second = try await self.backup(fixture, store: store, path: path, manifest: manifest)
        try await dropper.value
        #expect(second.status == .error)
        #expect(second.message.contains("bulk"), "\(second.message)")
        let complete = try self.bed.remoteNames(path).filter { !$0.hasPrefix(".") }
        #expect(complete == [first.backup ?? ""], "only the first backup looks complete: \(complete)")

        try fixture.directory.write("appliance/etc/ntp.conf", "server changed\n")
        let restored = try await self.restore(fixture, store: try self.store(fixture, path: path), path: path)
        #expect(restored.status == .completed, "\(restored.message)")
        #expect(restored.backup == first.backup)
        #expect(try fixture.directory.read("appliance/etc/ntp.conf") == ntp)
    }
}
