@testable import BackupArchive
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Tar archive")
struct TarArchiveTests {
    let archive = TarArchive()

    /// A tree with what backups meet: modes, a long name, a symlink, an empty file, a multi-MiB file.
    func makeTree(_ directory: TemporaryDirectory) throws -> String {
        let root = directory.sub("tree")
        try directory.write("tree/etc/app.conf", "key = value\n", mode: 0o640)
        try directory.write("tree/etc/secret.key", "s3cr3t", mode: 0o600)
        try directory.write("tree/empty", "", mode: 0o644)
        let longName = "tree/" + String(repeating: "long-directory-name/", count: 6) + String(repeating: "f", count: 120)
        try directory.write(longName, "deep", mode: 0o644)
        let big = Data((0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try FileTree.writeAtomically(big, to: directory.sub("tree/big.bin"))
        symlink("app.conf", directory.sub("tree/etc/current.conf"))
        chmod(directory.sub("tree/etc"), 0o750)
        return root
    }

    func pack(_ root: String) throws -> Data {
        let sink = MemorySink()
        _ = try self.archive.archive(directory: URL(fileURLWithPath: root), to: sink)
        return sink.data
    }

    @Test func roundTripKeepsContentModesMtimesAndSymlinks() throws {
        let directory = try TemporaryDirectory("tar")
        let root = try self.makeTree(directory)
        let data = try self.pack(root)
        let target = directory.sub("out")
        try FileTree.makePrivateDirectory(target)
        let summary = try self.archive.extract(from: MemorySource(data), into: URL(fileURLWithPath: target))
        #expect(summary.entryCount == 13)
        #expect(try TreeSnapshot(root) == TreeSnapshot(target))
    }

    @Test func stockTarReadsOurArchivesAndWeReadStockTar() throws {
        let directory = try TemporaryDirectory("tar")
        let root = try self.makeTree(directory)
        try FileTree.writeAtomically(try self.pack(root), to: directory.sub("ours.tar"))
        try FileTree.makePrivateDirectory(directory.sub("by-tar"))
        let untar = try shell("tar -xpf \(directory.sub("ours.tar")) -C \(directory.sub("by-tar"))")
        #expect(untar.status == 0, "\(untar.output)")
        #expect(try TreeSnapshot(root) == TreeSnapshot(directory.sub("by-tar")))

        let pack = try shell("tar --format=pax -cf \(directory.sub("theirs.tar")) -C \(root) .")
        #expect(pack.status == 0, "\(pack.output)")
        try FileTree.makePrivateDirectory(directory.sub("by-us"))
        let input = try FileDescriptorStream.openForReading(directory.sub("theirs.tar"))
        _ = try self.archive.extract(from: input, into: URL(fileURLWithPath: directory.sub("by-us")))
        #expect(try TreeSnapshot(root) == TreeSnapshot(directory.sub("by-us")))
    }

    /// An archive of hand-made headers: what an attacker could put in a backup.
    func crafted(_ entries: [(name: String, type: TarHeader.EntryType, link: String, content: String)]) -> Data {
        var bytes: [UInt8] = []
        for entry in entries {
            let content = Array(entry.content.utf8)
            let header = TarHeader(name: entry.name, mode: 0o644, uid: 0, gid: 0, size: UInt64(content.count), mtime: 1_700_000_000, typeFlag: entry.type.rawValue, linkName: entry.link)
            bytes += header.encode() + content + [UInt8](repeating: 0, count: TarHeader.padding(UInt64(content.count)))
        }
        bytes += [UInt8](repeating: 0, count: 1024)
        return Data(bytes)
    }

    @Test(arguments: [
        ("../escape", TarHeader.EntryType.regular, "", "'..'"),
        ("/etc/passwd", .regular, "", "absolute"),
        ("link", .symlink, "", "empty target"),
        ("hard", .hardLink, "etc/passwd", "hard link"),
        ("dev", .characterDevice, "", "device"),
    ])
    func unsafeEntriesAreRefusedAndNothingLandsOutside(name: String, type: TarHeader.EntryType, link: String, expected: String) throws {
        let directory = try TemporaryDirectory("slip")
        let target = directory.sub("target")
        try FileTree.makePrivateDirectory(target)
        let data = self.crafted([(name, type, link, "evil")])
        #expect {
            _ = try self.archive.extract(from: MemorySource(data), into: URL(fileURLWithPath: target))
        } throws: { error in
            (error as? BackupError)?.code == .unsafeArchive && (error as? BackupError)?.message.contains(expected) == true
        }
        #expect(throws: BackupError.self) { _ = try self.archive.validate(from: MemorySource(data)) }
        #expect(try FileStatus.of(directory.sub("escape")) == nil)
        #expect(try FileTree.names(in: target).isEmpty)
    }

    @Test func writingThroughAnInsideSymlinkIsRefused() throws {
        let directory = try TemporaryDirectory("slip")
        let target = directory.sub("target")
        try FileTree.makePrivateDirectory(target)
        let data = self.crafted([("sub/", .directory, "", ""), ("alias", .symlink, "sub", ""), ("alias/file", .regular, "", "x")])
        #expect {
            _ = try self.archive.extract(from: MemorySource(data), into: URL(fileURLWithPath: target))
        } throws: { error in
            (error as? BackupError)?.message.contains("through the symlink 'alias'") == true
        }
        #expect(try FileStatus.of(directory.sub("target/sub/file")) == nil)
    }

    @Test func linksPointingOutsideAreMadeAsLinksAndNeverFollowed() throws {
        let directory = try TemporaryDirectory("links")
        let target = directory.sub("target")
        try FileTree.makePrivateDirectory(target)
        try directory.write("outside/secret", "untouched")
        let data = self.crafted([
            ("localtime", .symlink, "/usr/share/zoneinfo/UTC", ""), ("sub/", .directory, "", ""),
            ("sub/up", .symlink, "../../outside/secret", ""), ("out", .symlink, directory.sub("outside"), ""),
        ])
        let summary = try self.archive.extract(from: MemorySource(data), into: URL(fileURLWithPath: target))
        #expect(summary.entryCount == 4)
        #expect(try FileTree.readLink(target + "/localtime") == "/usr/share/zoneinfo/UTC")
        #expect(try FileTree.readLink(target + "/sub/up") == "../../outside/secret")
        #expect(try FileStatus.of(target + "/out")?.kind == .symlink)
        #expect(try directory.read("outside/secret") == "untouched")
    }

    @Test func writingThroughALinkToOutsideIsRefusedAndNothingLandsThere() throws {
        let directory = try TemporaryDirectory("links")
        let target = directory.sub("target")
        try FileTree.makePrivateDirectory(target)
        try FileTree.makePrivateDirectory(directory.sub("outside"))
        let data = self.crafted([("out", .symlink, directory.sub("outside"), ""), ("out/planted", .regular, "", "evil")])
        #expect {
            _ = try self.archive.extract(from: MemorySource(data), into: URL(fileURLWithPath: target))
        } throws: { error in
            (error as? BackupError)?.code == .unsafeArchive && (error as? BackupError)?.message.contains("through the symlink 'out'") == true
        }
        #expect(try FileTree.names(in: directory.sub("outside")).isEmpty)
    }

    @Test func truncatedAndDamagedArchivesAreReportedAsCorrupted() throws {
        let directory = try TemporaryDirectory("tar")
        let data = try self.pack(try self.makeTree(directory))
        for damaged in [data.prefix(data.count / 2), data.prefix(700)] {
            #expect {
                _ = try self.archive.validate(from: MemorySource(Data(damaged)))
            } throws: { error in
                (error as? BackupError)?.code == .corrupted && (error as? BackupError)?.message.contains("truncated") == true
            }
        }
        var flipped = data
        flipped[20] ^= 0x40
        #expect {
            _ = try self.archive.validate(from: MemorySource(flipped))
        } throws: { error in
            (error as? BackupError)?.message.contains("checksum mismatch") == true
        }
    }
}

