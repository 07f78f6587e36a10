import BackupCore
import BackupCrypto
import BackupRuntime
import Foundation
import GatewayBackupTestSupport
import Testing

/// A restore derives its largest component's key while the backup's index is authenticated, and
/// lets none of that component's plaintext past the cipher before the index vouches for it.
@Suite("Early decryption of the largest component")
struct EarlyDecryptionTests {
    /// The real GPGME cipher, watched: the index's first plaintext waits (up to a deadline) until a
    /// component's decryption has offered plaintext (its key derived), so a restore that does not
    /// overlap them is seen; every event is recorded in order.
    final class OverlapProbeCipher: PayloadCipher, @unchecked Sendable {
        let inner: any PayloadCipher
        private let condition = NSCondition()
        private var recorded: [String] = []
        /// Whether a component's plaintext was offered while the index's waited (nil: no index
        /// plaintext was seen).
        private(set) var overlapped: Bool?

        init(_ inner: any PayloadCipher) {
            self.inner = inner
        }

        var events: [String] { self.condition.withLock { self.recorded } }

        func record(_ event: String) {
            self.condition.withLock {
                self.recorded.append(event)
                self.condition.broadcast()
            }
        }

        func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            try self.inner.encrypt(from: source, to: sink, passphrase: passphrase)
        }

        func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            let probe = ProbeSink(sink, cipher: self)
            try self.inner.decrypt(from: source, to: probe, passphrase: passphrase)
            if probe.isIndex { self.record("index decrypted") }
        }

        /// Waits until a component's plaintext was offered, for at most 30 s.
        func waitForComponentPlaintext() -> Bool {
            let deadline = Date().addingTimeInterval(30)
            return self.condition.withLock {
                while !self.recorded.contains("component plaintext offered") {
                    if !self.condition.wait(until: deadline) { return false }
                }
                self.overlapped = true
                return true
            }
        }

        func noteNoOverlap() {
            self.condition.withLock { self.overlapped = false }
        }

        func releaseResources() { self.inner.releaseResources() }
        func removeAbandonedResources() { self.inner.removeAbandonedResources() }
    }

    /// Classifies a decryption by its first plaintext byte: the index is JSON, a component's archive
    /// is zstd or tar.
    final class ProbeSink: ByteSink {
        let downstream: any ByteSink
        let cipher: OverlapProbeCipher
        private(set) var isIndex = false
        private var first = true

        init(_ downstream: any ByteSink, cipher: OverlapProbeCipher) {
            self.downstream = downstream
            self.cipher = cipher
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            if self.first, let byte = bytes.first {
                self.first = false
                self.isIndex = byte == UInt8(ascii: "{")
                if self.isIndex {
                    if !self.cipher.waitForComponentPlaintext() { self.cipher.noteNoOverlap() }
                } else {
                    self.cipher.record("component plaintext offered")
                    try self.downstream.write(bytes)
                    self.cipher.record("component plaintext passed")
                    return
                }
            }
            try self.downstream.write(bytes)
        }

        func finish() throws { try self.downstream.finish() }
    }

    func restore(_ fixture: Fixture, probe: inout OverlapProbeCipher?, password: Secret? = nil) async throws -> JobRecord {
        var orchestrator = fixture.runtime.orchestrator()
        let watched = OverlapProbeCipher(orchestrator.cipher)
        orchestrator.cipher = watched
        probe = watched
        let request = RestoreRequest(target: fixture.target, store: fixture.store, manifest: try fixture.manifest(), securityPassword: password ?? fixture.password)
        return try await orchestrator.restore(request)
    }

    @Test func theLargestComponentsKeyIsDerivedWhileTheIndexIsAuthenticated() async throws {
        let fixture = try Fixture("early-overlap")
        #expect(try await fixture.backup().status == .completed)
        let expected = try fixture.snapshotWithoutDatabase()
        try fixture.mutateAppliance()
        var probe: OverlapProbeCipher?
        let record = try await self.restore(fixture, probe: &probe)
        #expect(record.status == .completed, "\(record.message)")
        #expect(try fixture.snapshotWithoutDatabase() == expected)
        let events = try #require(probe).events
        #expect(try #require(probe).overlapped == true, "a component's key was derived while the index was decrypted: \(events)")
        // Every component's plaintext passed only after the index was decrypted (and checked).
        let indexDone = try #require(events.firstIndex(of: "index decrypted"), "\(events)")
        let passed = events.indices.filter { events[$0] == "component plaintext passed" }
        #expect(passed.count == 5, "\(events)")
        #expect(passed.allSatisfy { $0 > indexDone }, "\(events)")
        // The early one offered its plaintext before the index was done, and it was held.
        #expect(events.firstIndex(of: "component plaintext offered").map { $0 < indexDone } == true, "\(events)")
        #expect(events.firstIndex(of: "component plaintext passed").map { $0 > indexDone } == true, "\(events)")
    }

    @Test func anEarlyDecryptionsPlaintextGoesNowhereWhenTheIndexDoesNotVouchForIt() async throws {
        let fixture = try Fixture("early-refused")
        #expect(try await fixture.backup().status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        var plain = try forgery.plain()
        plain.createdEpoch += 1
        try forgery.writePlain(plain)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        var probe: OverlapProbeCipher?
        let record = try await self.restore(fixture, probe: &probe)
        #expect(record.status == .error)
        #expect(record.message.contains("does not agree with its authenticated index"), "\(record.message)")
        #expect(record.message.contains("the appliance was not changed"), "\(record.message)")
        let events = try #require(probe).events
        #expect(try #require(probe).overlapped == true, "the early decryption was under way: \(events)")
        #expect(!events.contains("component plaintext passed"), "\(events)")
        #expect(try fixture.snapshot() == before)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "staging is removed")
    }

    @Test func aWrongPasswordIsReportedAsSuchAndTheEarlyDecryptionLeavesNothing() async throws {
        let fixture = try Fixture("early-wrong")
        #expect(try await fixture.backup().status == .completed)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        var probe: OverlapProbeCipher?
        let record = try await self.restore(fixture, probe: &probe, password: Secret("not the password"))
        #expect(record.status == .error)
        #expect(record.message.contains("does not open"), "\(record.message)")
        #expect(record.components.allSatisfy { $0.status != .failed }, "no component is blamed: \(record.components)")
        let events = try #require(probe).events
        #expect(events.isEmpty, "no plaintext at all: \(events)")
        #expect(try fixture.snapshot() == before)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "staging is removed")
    }

    /// The start of the largest component is damaged: gpg fails at once, and the decryptor reads the
    /// rest for the checksum. Before the index vouches for the file that reading stops at 4 MiB and
    /// waits; once the index names the same record it goes on to the end, and the file is reported
    /// damaged, not as a wrong password.
    @Test func aDamagedLargeComponentIsReadToItsEndOnceVouchedForAndReportedDamaged() async throws {
        let fixture = try Fixture("early-damaged-large")
        try FileTree.makeDirectories(fixture.root + "/var/bulk")
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom"))
        try FileTree.writeAtomically(random.readData(ofLength: 12 << 20), to: fixture.root + "/var/bulk/data.bin")
        try random.close()
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "bulk", plugin: "fileset", parameters: ["paths": .array([.string("var/bulk")])]))
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        let file = try fixture.onlyBackup() + "/bulk.tar.zst.gpg"
        var damaged = try FileTree.readFile(file)
        let size = damaged.count
        damaged.replaceSubrange(0..<64, with: Data(repeating: 0xA5, count: 64))
        try FileTree.writeAtomically(damaged, to: file)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        // The index is opened only once 4 MiB of component files were read (or after 30 s).
        let counted = ReadCountingStore(fixture.store, holdingIndexUntil: UInt64(4 << 20), for: 30)
        let record = try await fixture.runtime.orchestrator().restore(RestoreRequest(target: fixture.target, store: counted, manifest: manifest, securityPassword: fixture.password))
        #expect(counted.indexWaitedForTheBytes, "the early reading reached its limit while the index waited")
        #expect(record.status == .error)
        #expect(record.message.contains("bulk") && record.message.contains("does not match the SHA-256"), "\(record.message)")
        #expect(counted.componentBytes >= UInt64(size), "the damaged file was read to its end once vouched for: \(counted.componentBytes) of \(size)")
        #expect(try fixture.snapshot() == before)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "staging is removed")
    }

    /// The decryptor itself: a held write passes nothing until the gate opens; a refusal ends it.
    @Test func aGatedDecryptionHoldsItsPlaintextUntilOpenedAndEndsWhenRefused() async throws {
        let fixture = try Fixture("early-gate")
        #expect(try await fixture.backup().status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        let config = try #require(try forgery.sealed().components.first { $0.name == "config" })
        let decompression = try #require(BackupRuntime.decompressors[config.compression])
        for opens in [true, false] {
            let probe = OverlapProbeCipher(GPGSymmetricCipher())
            let decryptor = ComponentDecryptor(store: fixture.store, cipher: probe, passphrase: fixture.password)
            let gate = PlaintextGate()
            let sink = LockedMemorySink()
            let name = forgery.name
            let decryption = Task.detached { () -> Result<Void, BackupError> in
                Result { try decryptor.decrypt(backup: name, component: config, into: sink, decompression: decompression, gate: gate) }
                    .mapError { BackupError.wrap($0) }
            }
            #expect(try await CrashRecoveryTests().wait { probe.events.contains("component plaintext offered") }, "the decryption reached the gate")
            #expect(sink.count == 0, "nothing passed a closed gate")
            if opens {
                gate.open()
                try (await decryption.value).get()
                #expect(UInt64(sink.count) >= (try #require(config.contentBytes)), "the whole archive passed")
                #expect(probe.events.contains("component plaintext passed"))
            } else {
                gate.refuse(BackupError(.interrupted, "refused by the test"))
                let result = await decryption.value
                #expect(throws: BackupError.self) { try result.get() }
                #expect(sink.count == 0, "a refused gate passes nothing")
                #expect(gate.isRefused)
                gate.open()
                #expect(gate.isRefused, "a refusal is final")
            }
        }
    }
}

/// A memory sink another thread may look into.
final class LockedMemorySink: ByteSink, @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = 0

    var count: Int { self.lock.withLock { self.bytes } }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        self.lock.withLock { self.bytes += chunk.count }
    }

    func finish() throws {}
}
