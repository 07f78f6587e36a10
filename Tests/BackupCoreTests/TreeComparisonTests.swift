@testable import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// `TreeInventory` over real trees and `TreeComparison`'s decisions: what a preview and a diff report.
@Suite("Tree comparison")
struct TreeComparisonTests {
    @Test func everyKindOfChangeIsReportedAndTimesAreNot() throws {
        let directory = try TemporaryDirectory("tree-comparison")
        let (a, b) = (directory.sub("a"), directory.sub("b"))
        for root in [a, b] {
            try directory.write((root as NSString).lastPathComponent + "/same.conf", "same\n", mode: 0o644)
            try directory.write((root as NSString).lastPathComponent + "/etc/dir/keep", "keep\n", mode: 0o600)
        }
        try directory.write("a/content.conf", "old\n", mode: 0o644)
        try directory.write("b/content.conf", "new\n", mode: 0o644)
        try directory.write("a/mode.conf", "m\n", mode: 0o644)
        try directory.write("b/mode.conf", "m\n", mode: 0o600)
        try directory.write("a/gone.conf", "g\n")
        try directory.write("b/new/deep/file.conf", "n\n")
        try directory.write("a/kind", "a file\n")
        #expect(symlink("same.conf", b + "/kind") == 0)
        #expect(symlink("one", a + "/link") == 0 && symlink("two", b + "/link") == 0)
        #expect(chown(b + "/same.conf", 1000, 1000) == 0)
        #expect(chmod(b + "/etc/dir", 0o700) == 0 && chmod(a + "/etc/dir", 0o755) == 0)
        // A time alone is no change.
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, a + "/etc/dir/keep", &times, 0) == 0)
        // A plugin's record is left out.
        try directory.write("a/.gwbackup-fileset.json", "{}")

        let changes = TreeComparison.changes(
            from: try TreeInventory(a, ignoring: TreeComparison.isPluginRecord), to: try TreeInventory(b, ignoring: TreeComparison.isPluginRecord))
        let byPath = Dictionary(uniqueKeysWithValues: changes.files.map { ($0.path, $0) })
        #expect(byPath["content.conf"] == FileChange(path: "content.conf", change: .updated, details: ["content"]))
        #expect(byPath["mode.conf"]?.details == ["mode 644 -> 600"])
        #expect(byPath["same.conf"]?.details == ["owner 0:0 -> 1000:1000"])
        #expect(byPath["gone.conf"]?.change == .removed)
        #expect(byPath["new/deep/file.conf"]?.change == .added)
        #expect(byPath["kind"]?.details == ["kind file -> symlink"])
        #expect(byPath["link"]?.details == ["target"])
        #expect(byPath["etc/dir"]?.details == ["mode 755 -> 700"])
        // Directories on one side only (new, new/deep) are not listed: their files are.
        #expect(byPath["new"] == nil && byPath["new/deep"] == nil && byPath[".gwbackup-fileset.json"] == nil)
        #expect(byPath["etc/dir/keep"] == nil && byPath["etc"] == nil)
        #expect(changes.files.map(\.path) == changes.files.map(\.path).sorted())
        #expect(changes.updated == 6 && changes.added == 1 && changes.removed == 1 && changes.unchanged == 2, "\(changes.summary)")
        #expect(!changes.truncated && !changes.isEmpty)
        // The other way round, added and removed swap.
        let back = TreeComparison.changes(from: try TreeInventory(b), to: try TreeInventory(a))
        #expect(back.files.first { $0.path == "gone.conf" }?.change == .added)
        // At most `limit` paths; the counts stay whole.
        let cut = TreeComparison.changes(from: try TreeInventory(a), to: try TreeInventory(b), limit: 2)
        #expect(cut.files.count == 2 && cut.truncated && cut.updated + cut.added + cut.removed == 9)
    }

    @Test func theWalkFollowsNoLinkAndRefusesALinkedRoot() throws {
        let directory = try TemporaryDirectory("tree-inventory")
        try directory.write("outside/secret", "s\n")
        try FileTree.makeDirectories(directory.sub("tree"))
        #expect(symlink(directory.sub("outside"), directory.sub("tree/escape")) == 0)
        #expect(mkfifo(directory.sub("tree/fifo"), 0o600) == 0)
        let inventory = try TreeInventory(directory.sub("tree"))
        #expect(inventory.entries["escape"]?.kind == .symlink && inventory.entries["escape/secret"] == nil)
        #expect(inventory.entries["fifo"]?.kind == .other && inventory.entries["fifo"]?.sha256 == nil)
        #expect(symlink(directory.sub("outside"), directory.sub("linked-root")) == 0)
        #expect(throws: BackupError.self) { try TreeInventory(directory.sub("linked-root")) }
        #expect(try TreeInventory(directory.sub("missing")).entries.isEmpty)
    }
}
