import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// Faults of the machine (issue 9): a full destination, a read-only destination, a read-only state
/// directory. Each gives a clear error, loses nothing, and the next job runs normally.
@Suite("Faults", .serialized)
struct FaultTests {
    let cli = CommandLineTests()

    /// Mounts a tmpfs of `size` at `path` with `options`; unmounted when `body` returns.
    func withTmpfs<T>(_ path: String, size: String, options: String = "", _ body: () async throws -> T) async throws -> T {
        try FileTree.makeDirectories(path)
        let mounted = try shell("mount -t tmpfs -o size=\(size),mode=0700\(options) tmpfs \(path)")
        try #require(mounted.status == 0, "tmpfs mount: \(mounted.output)")
        // A process still holding a file there (a slow gpg on a loaded machine) must not leave the
        // mount behind: detach it lazily then.
        defer { _ = try? shell("umount \(path) || umount --lazy \(path)") }
        return try await body()
    }

    @Test func aFullDestinationFailsCleanlyAndTheNextBackupSucceedsElsewhere() async throws {
        let fixture = try Fixture("fault-full")
        // 1 MiB that does not compress, for a destination of 256 KiB.
        #expect(try shell("head -c 1048576 /dev/urandom > \(fixture.root)/var/lib/flowgateway/flows.bin").status == 0)
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "flows", plugin: "fileset", parameters: ["paths": .array([.string("var/lib/flowgateway/flows.bin")])]))
        let small = fixture.directory.sub("small")
        try await self.withTmpfs(small, size: "256k") {
            let request = BackupRequest(
                target: StorageTarget(host: "localhost", username: "mazu", path: small), store: LocalBackupStore(path: small),
                manifest: manifest, securityPassword: fixture.password)
            let record = try await fixture.runtime.orchestrator().backup(request)
            #expect(record.status == .error, "\(record.message)")
            #expect(record.message.contains("No space left on device") && record.message.contains("nothing was committed"), "\(record.message)")
            #expect(try FileTree.names(in: small).isEmpty, "no backup and no partial directory left")
            #expect(try fixture.runtime.status.backupStatus().lastSuccessful == nil)
        }
        #expect(try await fixture.backup(manifest: manifest).status == .completed, "the next job runs normally")
    }

    @Test func aReadOnlyDestinationFailsClearly() async throws {
        let fixture = try Fixture("fault-readonly")
        #expect(try await fixture.backup().status == .completed)
        let readOnly = fixture.directory.sub("readonly")
        try await self.withTmpfs(readOnly, size: "1m", options: ",ro") {
            let request = BackupRequest(
                target: StorageTarget(host: "localhost", username: "mazu", path: readOnly), store: LocalBackupStore(path: readOnly),
                manifest: try fixture.manifest(), securityPassword: fixture.password)
            let record = try await fixture.runtime.orchestrator().backup(request)
            #expect(record.status == .error && record.message.contains("Read-only file system"), "\(record.message)")
            let last = try fixture.runtime.status.backupStatus().lastSuccessful
            #expect(last?.subdir.hasPrefix(fixture.backups) == true, "the last successful backup is still the earlier one")
        }
        #expect(try await fixture.restore().status == .completed, "and it still restores")
    }

    @Test func aReadOnlyStateDirectoryIsRefusedBeforeAnythingStarts() async throws {
        let fixture = try Fixture("fault-state")
        let state = fixture.directory.sub("ro-state")
        try await self.withTmpfs(state, size: "1m", options: ",ro") {
            let result = try await self.cli.gwbackup(
                ["backup", "--root", fixture.root, "--path", fixture.backups, "--state-dir", state],
                environment: ["GWBACKUP_SECURITY_PWD": fixture.password.revealed])
            #expect(result.status != 0)
            #expect(result.stderr.contains("Read-only file system"), "\(result.stderr)")
            #expect(try FileStatus.of(fixture.backups) == nil || (try FileTree.names(in: fixture.backups)).isEmpty, "nothing written")
        }
        let next = try await self.cli.gwbackup(
            ["backup", "--root", fixture.root, "--path", fixture.backups, "--state-dir", fixture.state],
            environment: ["GWBACKUP_SECURITY_PWD": fixture.password.revealed])
        #expect(next.status == 0, "\(next.stderr)")
    }
}
