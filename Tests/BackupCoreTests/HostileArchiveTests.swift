@testable import BackupArchive
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// Archives crafted by someone who knows the security password: every malformed or oversized header
/// is an error, never a trap, a hang or unbounded memory.
@Suite("Hostile archives")
struct HostileArchiveTests {
    let archive = TarArchive()

    /// A header block followed by `content` and its padding.
    func entry(_ name: String, type: TarHeader.EntryType = .regular, content: [UInt8] = []) -> [UInt8] {
        TarHeader(name: name, mode: 0o644, uid: 0, gid: 0, size: UInt64(content.count), mtime: 0, typeFlag: type.rawValue, linkName: "").encode()
            + content + [UInt8](repeating: 0, count: TarHeader.padding(UInt64(content.count)))
    }

    func pax(_ records: [(String, String)]) -> [UInt8] {
        self.entry("PaxHeaders/x", type: .paxExtended, content: TarHeader.paxData(records))
    }

    let end = [UInt8](repeating: 0, count: 1024)

    func expectCorrupted(_ bytes: [UInt8], _ expected: String, limits: ArchiveLimits = .none) throws {
        let directory = try TemporaryDirectory("hostile-tar")
        do {
            _ = try self.archive.extract(from: MemorySource(Data(bytes)), into: URL(fileURLWithPath: directory.path), limits: limits)
            Issue.record("accepted an archive that should fail with '\(expected)'")
        } catch let error as BackupError {
            #expect(error.message.contains(expected), "\(error.message)")
        }
        #expect(try FileTree.names(in: directory.path).allSatisfy { $0 != "f" }, "the entry was not written")
    }

    @Test(arguments: ["1e300", "nan", "-inf", "99999999999999999999", "12abc", "", "1.", ".5", "1.2.3"])
    func aBadPaxTimeIsAnErrorNotATrap(value: String) throws {
        try self.expectCorrupted(self.pax([("mtime", value)]) + self.entry("f", content: Array("x".utf8)) + self.end, "bad pax mtime")
    }

    @Test func goodPaxTimesAreRead() {
        #expect(TarHeader.paxTime("1700000000.123456789") == 1_700_000_000)
        #expect(TarHeader.paxTime("-5") == -5)
        #expect(TarHeader.paxTime("0") == 0)
    }

    @Test(arguments: [("uid", "-1"), ("gid", "4294967296"), ("size", "nope")])
    func badPaxNumbersAreErrors(key: String, value: String) throws {
        try self.expectCorrupted(self.pax([(key, value)]) + self.entry("f") + self.end, "bad pax \(key)")
    }

    @Test func aPaxRecordLengthThatOverflowsIsAnError() throws {
        let record = Array("9223372036854775807 path=x\n".utf8)
        try self.expectCorrupted(self.entry("PaxHeaders/x", type: .paxExtended, content: record) + self.entry("f") + self.end, "malformed pax header")
    }

    @Test func manyExtendedHeadersBeforeOneEntryAreRefused() throws {
        var bytes: [UInt8] = []
        for index in 0..<20 { bytes += self.pax([("comment\(index)", String(repeating: "y", count: 60_000))]) }
        try self.expectCorrupted(bytes + self.entry("f") + self.end, "too many extended headers")
        // Bytes add up across headers too: 2 x 700 KiB is over the 1 MiB bound.
        let big = self.pax([("comment", String(repeating: "z", count: 700 << 10))])
        try self.expectCorrupted(big + big + self.entry("f") + self.end, "oversized or too many extended headers")
    }

    @Test func entriesAndContentBeyondTheIndexStopExtraction() throws {
        let two = self.entry("a", content: Array("1234".utf8)) + self.entry("f", content: Array("5678".utf8)) + self.end
        try self.expectCorrupted(two, "more than the 1 entries", limits: ArchiveLimits(entries: 1, contentBytes: nil))
        try self.expectCorrupted(two, "more than the 6 bytes of content", limits: ArchiveLimits(entries: nil, contentBytes: 6))
        let directory = try TemporaryDirectory("hostile-tar")
        let summary = try self.archive.extract(from: MemorySource(Data(two)), into: URL(fileURLWithPath: directory.path), limits: ArchiveLimits(entries: 2, contentBytes: 8))
        #expect(summary == ArchiveSummary(entryCount: 2, contentBytes: 8))
    }

    @Test func endlessDataAfterTheEndMarkerIsAnError() throws {
        let bytes = self.entry("a", content: Array("1".utf8)) + self.end + [UInt8](repeating: 0, count: 2 << 20)
        try self.expectCorrupted(bytes, "after its end marker")
    }

    @Test func giantHeaderSizesAreErrors() throws {
        var header = TarHeader(name: "f", mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, typeFlag: TarHeader.EntryType.paxExtended.rawValue, linkName: "").encode()
        // GNU base-256 size field: 0x80 then 11 bytes of 0xFF.
        header[124] = 0x80
        for offset in 125..<136 { header[offset] = 0xFF }
        header.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = String(header.reduce(0) { $0 + Int($1) }, radix: 8)
        header.replaceSubrange(148..<155, with: Array((String(repeating: "0", count: 6 - sum.count) + sum).utf8) + [0])
        try self.expectCorrupted(header + self.end, "out of range")
    }

    @Test func escapedTextKeepsPrintableAndShowsControls() {
        #expect(SafeText.escaped("flowgateway-20261129T051145Z") == "flowgateway-20261129T051145Z")
        #expect(SafeText.escaped("a\u{1B}[2Jb\nc\td") == "a\\u{1B}[2Jb\\nc\\td")
        #expect(SafeText.escaped("Zürich \u{202E}txt") == "Zürich \\u{202E}txt")
        #expect(SafeText.escaped(String(repeating: "x", count: 10), limit: 4) == "xxxx…")
    }
}
