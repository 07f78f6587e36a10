import BackupCompression
import BackupProcess
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation
import GatewayBackupTestSupport
import Testing

/// What the store holds cannot make a command grow without bound, and no byte of a component reaches
/// the decompressor or the extractor before it is authenticated (issue 21).
@Suite("The catalog is bounded and components are authenticated before use")
struct BoundedCatalogTests {
    /// Peak RSS (KiB) of `gwbackup arguments`, by GNU time, and the outcome.
    func peakMemory(_ arguments: [String], environment: [String: String]) async throws -> (kib: Int, status: Int32, stdout: String, stderr: String) {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("gwb-rss-\(UUID().uuidString)").path
        defer { try? FileTree.remove(report) }
        let child = ChildProcess(
            executable: "/usr/bin/time", arguments: ["-f", "%M", "-o", report, CommandLineTests.binary] + arguments,
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "GWBACKUP_SHARE": Fixture.repository].merging(environment) { $1 },
            timeout: .seconds(600))
        let outcome = try await Blocking.run { try child.run(input: Data()) }
        let text = String(decoding: try FileTree.readFile(report), as: UTF8.self)
        let kib = Int(text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") ?? Int.max
        return (kib, outcome.status, String(decoding: outcome.stdout, as: UTF8.self), String(decoding: outcome.stderr, as: UTF8.self))
    }

    /// 1,000 directories that look like backups, each with a 4 MiB `manifest.json` (sparse: no disk
    /// space) and, for every twentieth, a 4 MiB `index.json.gpg`: the most each may hold (the bench
    /// gives every other one an index; here fewer keep the test light beside the others).
    static func plant(_ backups: String, count: Int = 1000) throws {
        for number in 0..<count {
            let directory = backups + String(format: "/flowgateway-2%03dT000000Z", number)
            try FileTree.makeDirectories(directory)
            var files = [BackupIndex.fileName]
            if number % 20 == 0 { files.append(SealedIndex.fileName) }
            for file in files {
                let fd = open(directory + "/" + file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
                guard fd >= 0 else { throw BackupError(.system, "cannot create \(directory)/\(file)") }
                defer { close(fd) }
                guard ftruncate(fd, off_t(SealedIndex.sizeLimit)) == 0 else { throw BackupError(.system, "cannot size \(directory)/\(file)") }
            }
        }
    }

    @Test func athousandPlantedDirectoriesKeepEveryCommandWithinItsMemoryBound() async throws {
        let fixture = try Fixture("bounded-rss")
        let record = try await fixture.backup()
        #expect(record.status == .completed)
        let planting = fixture.backups
        try await Blocking.run { try Self.plant(planting) }
        let environment = ["GWBACKUP_SECURITY_PWD": fixture.password.revealed]
        let storage = ["--path", fixture.backups, "--state-dir", fixture.state]
        let bound = 96 * 1024
        let listed = try await self.peakMemory(["list", "--json"] + storage, environment: environment)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.contains(try #require(record.backup)) && listed.stdout.contains("\"authenticated\" : true"))
        #expect(listed.kib <= bound, "list with the password: \(listed.kib) KiB")
        let plain = try await self.peakMemory(["list", "--json"] + storage, environment: [:])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.kib <= bound, "list without the password: \(plain.kib) KiB")
        let pruned = try await self.peakMemory(["prune", "--keep-last", "1", "--dry-run", "--json"] + storage, environment: environment)
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("\"unverified\""), "prune --json reports what did not authenticate")
        #expect(pruned.kib <= bound, "prune: \(pruned.kib) KiB")
        let restored = try await self.peakMemory(["restore", "--dry-run", "--backup", try #require(record.backup), "--root", fixture.root] + storage, environment: environment)
        #expect(restored.status == 0, "\(restored.stdout) \(restored.stderr)")
        #expect(restored.kib <= bound, "restore: \(restored.kib) KiB")
        print("peak RSS with 1,000 planted 4 MiB manifests: list \(listed.kib) KiB, list without password \(plain.kib) KiB, prune \(pruned.kib) KiB, restore \(restored.kib) KiB")
    }

    /// zstd, watched: every decompressor it makes is counted.
    final class SentinelDecompression: PayloadCompression, @unchecked Sendable {
        let inner = ZstdCompression()
        private let lock = NSLock()
        private var made = 0
        var name: String { self.inner.name }
        var fileSuffix: String { self.inner.fileSuffix }
        var decompressors: Int { self.lock.withLock { self.made } }
        func compressor(into sink: any ByteSink) throws -> any ByteSink { try self.inner.compressor(into: sink) }
        func decompressor(into sink: any ByteSink) throws -> any ByteSink {
            self.lock.withLock { self.made += 1 }
            return try self.inner.decompressor(into: sink)
        }
    }

    func restore(_ fixture: Fixture, sentinel: SentinelDecompression) async throws -> JobRecord {
        var orchestrator = fixture.runtime.orchestrator()
        orchestrator.decompressors = ["zstd": sentinel]
        return try await orchestrator.restore(RestoreRequest(target: fixture.target, store: fixture.store, manifest: try fixture.manifest(), securityPassword: fixture.password, components: ["snmp"]))
    }

    @Test func nothingUnauthenticatedReachesTheDecompressorOrTheExtractor() async throws {
        let fixture = try Fixture("bounded-sentinel")
        #expect(try await fixture.backup().status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        // The control: a genuine component is decompressed, so the sentinel can see one.
        let control = SentinelDecompression()
        let genuine = try await self.restore(fixture, sentinel: control)
        #expect(genuine.status == .completed && control.decompressors == 1, "\(genuine.message)")

        // A damaged file: the checksum refuses it, and the decompressor never saw a byte of it.
        let file = forgery.directory + "/snmp.tar.zst.gpg"
        let original = try FileTree.readFile(file)
        var damaged = original
        damaged[damaged.count / 2] ^= 0x40
        try BackupForgery.replaceFile(file, with: damaged)
        let sentinel = SentinelDecompression()
        let refused = try await self.restore(fixture, sentinel: sentinel)
        #expect(refused.status == .error && refused.message.contains("does not match the SHA-256"), "\(refused.message)")
        #expect(sentinel.decompressors == 0, "the damaged plaintext never reached the decompressor")

        // Data that was never encrypted (an OpenPGP literal packet), recorded by someone with the
        // password so that its size and checksum match: the decryption is not authenticated, nothing goes on.
        let literal = try shell("""
            export GNUPGHOME=\(fixture.directory.sub("gnupg-store")); mkdir -p -m 700 $GNUPGHOME
            printf 'not encrypted at all' | gpg --batch --store --compress-algo none > \(fixture.directory.sub("literal.gpg"))
            status=$?; gpgconf --kill gpg-agent; exit $status
            """)
        #expect(literal.status == 0, "\(literal.output)")
        try forgery.replaceFileRecorded("snmp", with: try FileTree.readFile(fixture.directory.sub("literal.gpg")))
        let unencrypted = SentinelDecompression()
        let stopped = try await self.restore(fixture, sentinel: unencrypted)
        #expect(stopped.status == .error, "\(stopped.message)")
        #expect(unencrypted.decompressors == 0, "unencrypted data never reached the decompressor: \(stopped.message)")
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "nothing left in staging")
    }

    /// An index (forged with the password) that records more content than staging can hold: refused
    /// before a byte is decrypted, with the room it would need, and nothing changes.
    @Test func aComponentThatWouldFillTheDiskIsRefusedBeforeItStarts() async throws {
        let fixture = try Fixture("bounded-space")
        #expect(try await fixture.backup().status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        var sealed = try forgery.sealed()
        var plain = try forgery.plain()
        for position in sealed.components.indices where sealed.components[position].name == "snmp" { sealed.components[position].contentBytes = 1 << 60 }
        for position in plain.components.indices where plain.components[position].name == "snmp" { plain.components[position].contentBytes = 1 << 60 }
        try forgery.writeSealed(sealed)
        try forgery.writePlain(plain)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        let sentinel = SentinelDecompression()
        let record = try await self.restore(fixture, sentinel: sentinel)
        #expect(record.status == .error && record.message.contains("snmp: staging has") && record.message.contains("bytes free"), "\(record.message)")
        #expect(sentinel.decompressors == 0)
        #expect(try fixture.snapshot() == before)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
    }

    @Test func aComponentCannotDecryptToMoreThanItsRecordAllows() async throws {
        let fixture = try Fixture("bounded-spool")
        #expect(try await fixture.backup().status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        // With the password: 8 MiB of zeros, compressed by gpg itself to a few KiB, for a zstd component.
        let bomb = try shell("""
            export GNUPGHOME=\(fixture.directory.sub("gnupg-bomb")); mkdir -p -m 700 $GNUPGHOME
            head -c 8388608 /dev/zero | gpg --batch --pinentry-mode loopback --passphrase-file \(fixture.passwordFile) --symmetric --compress-algo zlib > \(fixture.directory.sub("bomb.gpg"))
            status=$?; gpgconf --kill gpg-agent; exit $status
            """)
        #expect(bomb.status == 0, "\(bomb.output)")
        let packet = try FileTree.readFile(fixture.directory.sub("bomb.gpg"))
        #expect(packet.count < 1 << 20)
        try forgery.replaceFileRecorded("snmp", with: packet)
        let sentinel = SentinelDecompression()
        let record = try await self.restore(fixture, sentinel: sentinel)
        #expect(record.status == .error && record.message.contains("larger than the \(packet.count) bytes its record allows"), "\(record.message)")
        #expect(sentinel.decompressors == 0)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
    }
}
