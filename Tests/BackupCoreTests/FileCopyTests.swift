import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// `FileTree.copyFileContents`: in the kernel where it can, through a buffer where it cannot, and
/// the same bytes either way.
@Suite("File copies")
struct FileCopyTests {
    /// 3 MiB and a bit of varied bytes: more than one buffer, not a multiple of one.
    func content() -> Data {
        Data((0..<(3 << 20) + 4097).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ $0 >> 11) })
    }

    @Test func aCopyOnOneFilesystemHasTheSameBytes() throws {
        let directory = try TemporaryDirectory("copy")
        let data = self.content()
        try FileTree.writeAtomically(data, to: directory.sub("source"))
        try FileTree.copyFileContents(directory.sub("source"), to: directory.sub("synced"))
        try FileTree.copyFileContents(directory.sub("source"), to: directory.sub("unsynced"), syncing: false)
        #expect(try FileTree.readFile(directory.sub("synced")) == data)
        #expect(try FileTree.readFile(directory.sub("unsynced")) == data)
    }

    /// tmpfs to the temporary directory's filesystem: where the kernel refuses `copy_file_range`
    /// across filesystems, the buffered copy takes over; the bytes are the same either way.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/dev/shm")))
    func aCopyAcrossFilesystemsHasTheSameBytes() throws {
        let directory = try TemporaryDirectory("copy-across")
        let source = "/dev/shm/gwb-copy-\(UUID().uuidString)"
        defer { try? FileTree.remove(source) }
        let data = self.content()
        try FileTree.writeAtomically(data, to: source)
        try FileTree.copyFileContents(source, to: directory.sub("copy"), syncing: false)
        #expect(try FileTree.readFile(directory.sub("copy")) == data)
        // An empty file copies as an empty file.
        try FileTree.writeAtomically(Data(), to: source)
        try FileTree.copyFileContents(source, to: directory.sub("empty"))
        #expect(try FileTree.readFile(directory.sub("empty")).isEmpty)
    }

    @Test func aCopyOntoAnExistingFileIsRefusedAndLeavesItAlone() throws {
        let directory = try TemporaryDirectory("copy-exists")
        try directory.write("source", "new")
        try directory.write("target", "old")
        #expect(throws: BackupError.self) { try FileTree.copyFileContents(directory.sub("source"), to: directory.sub("target")) }
        #expect(try directory.read("target") == "old")
    }
}
