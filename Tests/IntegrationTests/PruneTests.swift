import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// Retention applied to real backup paths (issue 12): the policy, the newest kept, other things left
/// alone, old leftovers removed, nothing while a job runs; locally and over the test sshd.
@Suite("Prune")
struct PruneTests {
    func backups(_ fixture: Fixture, count: Int) async throws -> [String] {
        var names: [String] = []
        for _ in 0..<count {
            let record = try await fixture.backup()
            #expect(record.status == .completed, "\(record.message)")
            names.append(try #require(record.backup))
        }
        return names
    }

    @Test func pruneKeepsWhatThePolicySaysAndNeverTouchesWhatIsNotOurs() async throws {
        let fixture = try Fixture("prune")
        let names = try await self.backups(fixture, count: 3)
        try fixture.directory.write("backups/notes.txt", "operator notes\n")
        try fixture.directory.write("backups/other-appliance/manifest.txt", "not ours\n")
        try fixture.directory.write("backups/.partial-flowgateway-20200101T000000Z/config.tar.zst.gpg", "old leftover")
        try fixture.directory.write("backups/.partial-flowgateway-29990101T000000Z/config.tar.zst.gpg", "being written elsewhere")
        #expect(try shell("touch -d '2 days ago' \(fixture.backups)/.partial-flowgateway-20200101T000000Z").status == 0)
        let pruner = fixture.runtime.pruner(store: fixture.store, policy: RetentionPolicy(keepLast: 1), passphrase: fixture.password)

        let dry = try await pruner.runOffPool(dryRun: true)
        #expect(dry.decisions.map(\.keep) == [true, false, false])
        #expect(dry.decisions[0].name == names[2] && dry.decisions[0].reasons == ["newest complete backup", "last 1"])
        #expect(dry.decisions[1].reasons == ["beyond the policy"])
        #expect(try FileTree.names(in: fixture.backups).filter { names.contains($0) }.count == 3, "a dry run deletes nothing")

        let report = try await pruner.runOffPool(dryRun: false)
        #expect(report.leftovers == [".partial-flowgateway-20200101T000000Z"])
        let left = try FileTree.names(in: fixture.backups)
        #expect(left.contains(names[2]) && !left.contains(names[0]) && !left.contains(names[1]))
        #expect(left.contains("notes.txt") && left.contains("other-appliance") && left.contains(".partial-flowgateway-29990101T000000Z"))
        #expect(!left.contains { $0.hasPrefix(StoredEntry.deletingPrefix) }, "deleted out of sight, then removed")
        #expect(report.untouched.contains("notes.txt") && report.untouched.contains("other-appliance"))
        // Whatever the policy, the newest stays: a second prune deletes nothing more.
        #expect(try await pruner.runOffPool(dryRun: false).decisions.allSatisfy(\.keep))
        let restore = try await fixture.restore()
        #expect(restore.status == .completed, "\(restore.message)")
    }

    @Test func nothingIsDeletedWhileAJobRunsAndAnEmptyPolicyIsRefused() async throws {
        let fixture = try Fixture("prune-busy")
        _ = try await self.backups(fixture, count: 2)
        let lock = try JobLock.acquire(stateDirectory: fixture.state, description: "backup to somewhere")
        let pruner = fixture.runtime.pruner(store: fixture.store, policy: RetentionPolicy(keepLast: 1), passphrase: fixture.password)
        await #expect { _ = try await pruner.runOffPool(dryRun: false) } throws: { ($0 as? BackupError)?.code == .busy }
        lock.release()
        #expect(try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.count == 2)
        let empty = fixture.runtime.pruner(store: fixture.store, policy: RetentionPolicy(), passphrase: fixture.password)
        await #expect { _ = try await empty.runOffPool(dryRun: false) } throws: { ($0 as? BackupError)?.message.contains("needs at least one") == true }
    }

    @Test func theCommandPrintsEachDecisionAndItsReason() async throws {
        let fixture = try Fixture("prune-cli")
        let names = try await self.backups(fixture, count: 2)
        let cli = CommandLineTests()
        // Like restic's forget, prune needs the password: it acts only on what the password authenticates.
        let without = try await cli.gwbackup(["prune", "--path", fixture.backups, "--state-dir", fixture.state, "--keep-last", "1", "--dry-run"])
        #expect(without.status != 0 && without.stderr.contains("no secret given"), "\(without.stdout)\(without.stderr)")
        let dry = try await cli.gwbackup(["prune", "--path", fixture.backups, "--state-dir", fixture.state, "--keep-last", "1", "--dry-run", "--security-pwd-file", fixture.passwordFile])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("keep          \(names[1])  (newest complete backup, last 1)"), "\(dry.stdout)")
        #expect(dry.stdout.contains("would delete  \(names[0])  (beyond the policy)"), "\(dry.stdout)")
        #expect(dry.stdout.contains("1 kept, 1 would delete (dry run)"), "\(dry.stdout)")
        #expect(try FileTree.names(in: fixture.backups).filter { names.contains($0) }.count == 2, "a dry run deletes nothing")
        let refused = try await cli.gwbackup(["prune", "--path", fixture.backups, "--state-dir", fixture.state])
        #expect(refused.status == 64 && refused.stderr.contains("needs at least one"), "\(refused.stderr)")
    }
}
