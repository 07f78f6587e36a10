import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// What the built-in plugins read out of a staging tree (a backup's, not trusted) and leave behind
/// on the appliance (issue 22, item 4).
@Suite("Staged input and what a restore leaves")
struct StagedInputTests {
    @Test func aStagedRecordThatIsALinkToAFifoOrAFifoItselfIsRefusedAtOnce() async throws {
        let directory = try TemporaryDirectory("staged-fifo")
        let staging = directory.sub("staging")
        try FileTree.makePrivateDirectory(staging)
        #expect(mkfifo(directory.sub("pipe"), 0o600) == 0)
        let record = staging + "/" + FileSet.recordName
        #expect(symlink(directory.sub("pipe"), record) == 0)
        // Nobody ever opens the FIFO's other end: a read that followed the link would wait for good.
        #expect(throws: BackupError.self) { try FileTree.readStagedFile(record) }
        #expect((try? FileSet(patterns: ["etc/x"]).restore(root: directory.path, staging: staging)) == nil)
        try FileTree.remove(record)
        #expect(mkfifo(record, 0o600) == 0)
        do {
            _ = try FileTree.readStagedFile(record)
            Issue.record("a FIFO was read")
        } catch let error as BackupError {
            #expect(error.message.contains("is not a regular file but a FIFO"), "\(error.message)")
        }
        try FileTree.remove(record)
        try FileTree.writeAtomically(Data("{}".utf8), to: record)
        #expect(try FileTree.readStagedFile(record) == Data("{}".utf8))
    }

    @Test func aRestoreLeavesTheAppliancesOwnEmptyDirectoriesAndItsRollbackRemovesThoseItCreated() throws {
        let directory = try TemporaryDirectory("absent-parents")
        let fileSet = FileSet(patterns: ["etc/snmp/snmpd.conf"])
        // A backup of an appliance without etc/snmp.
        try FileTree.makeDirectories(directory.sub("old/etc"))
        let backup = directory.sub("backup")
        try FileTree.makePrivateDirectory(backup)
        _ = try fileSet.collect(root: directory.sub("old"), staging: backup)
        // Restored onto an appliance that has its own, empty, etc/snmp: that directory stays.
        try FileTree.makeDirectories(directory.sub("new/etc/snmp"))
        _ = try fileSet.restore(root: directory.sub("new"), staging: backup)
        #expect(try FileStatus.of(directory.sub("new/etc/snmp"))?.kind == .directory, "the appliance's own empty directory was removed")

        // A restore that creates etc/snmp, then its rollback from the state just before: gone again.
        try directory.write("full/etc/snmp/snmpd.conf", "rocommunity x\n")
        let full = directory.sub("full-staging")
        try FileTree.makePrivateDirectory(full)
        _ = try fileSet.collect(root: directory.sub("full"), staging: full)
        let before = directory.sub("before")
        try FileTree.makePrivateDirectory(before)
        _ = try fileSet.collect(root: directory.sub("old"), staging: before)
        _ = try fileSet.restore(root: directory.sub("old"), staging: full)
        #expect(try directory.read("old/etc/snmp/snmpd.conf") == "rocommunity x\n")
        _ = try fileSet.restore(root: directory.sub("old"), staging: before, isRollback: true)
        #expect(try FileStatus.of(directory.sub("old/etc/snmp")) == nil, "the rollback leaves a directory the restore created")
        #expect(try FileStatus.of(directory.sub("old/etc"))?.kind == .directory)
    }

    @Test func aFailedFinalRenameLeavesNoTemporaryBehind() throws {
        let directory = try TemporaryDirectory("failed-rename")
        try directory.write("root/etc/vault.key", "old secret\n", mode: 0o600)
        try directory.write("staged/vault.key", "new secret\n", mode: 0o600)
        // An immutable target: the rename over it fails with EPERM after the temporary was made.
        let target = directory.sub("root/etc/vault.key")
        guard try shell("chattr +i \(target)").status == 0 else {
            Issue.record("chattr +i is not supported here")
            return
        }
        defer { _ = try? shell("chattr -i \(target)") }
        let confined = try ConfinedDirectory(path: directory.sub("root"))
        #expect(throws: BackupError.self) { try confined.install("etc/vault.key", from: directory.sub("staged/vault.key")) }
        #expect(try FileTree.names(in: directory.sub("root/etc")) == ["vault.key"], "a .gwbackup-new-* temporary was left")
        #expect(try directory.read("root/etc/vault.key") == "old secret\n")

        // A directory put where a file was (and back): replaced whole, no temporary left.
        _ = try shell("chattr -i \(target)")
        try directory.write("tree/vault.key/part", "x")
        try confined.install("etc/vault.key", from: directory.sub("tree/vault.key"))
        #expect(try directory.read("root/etc/vault.key/part") == "x")
        // (The failed install above moved the staged file in and then removed it: staged data is used once.)
        try directory.write("staged/vault.key", "new secret\n", mode: 0o600)
        try confined.install("etc/vault.key", from: directory.sub("staged/vault.key"))
        #expect(try directory.read("root/etc/vault.key") == "new secret\n")
        #expect(try FileTree.names(in: directory.sub("root/etc")) == ["vault.key"])
    }
}
