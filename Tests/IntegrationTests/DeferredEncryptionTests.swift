import BackupCore
import BackupModel
import BackupPOSIX
import BackupCrypto
import Foundation
import GatewayBackupTestSupport
import Testing

/// An encryption started before its input exists (a backup's index, beside the last component):
/// gpg takes the passphrase and derives the key at once, and its input waits until it is provided.
@Suite("Encryption ahead of its input")
struct DeferredEncryptionTests {
    let passphrase = Secret("sesame 😀 with spaces")
    let plaintext = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 11) })

    /// The real cipher, watched: records, for each deferred encryption, whether gpg had the
    /// passphrase before its input was decided, or the error it ended with.
    final class IndexProbeCipher: PayloadCipher, @unchecked Sendable {
        let inner: any PayloadCipher
        private let lock = NSLock()
        private var recorded: [String] = []

        init(_ inner: any PayloadCipher) {
            self.inner = inner
        }

        var outcomes: [String] { self.lock.withLock { self.recorded } }

        func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            try self.inner.encrypt(from: source, to: sink, passphrase: passphrase)
        }

        func encrypt(deferred input: DeferredInput, to sink: any ByteSink, passphrase: Secret) throws {
            do {
                try self.inner.encrypt(deferred: input, to: sink, passphrase: passphrase)
                self.lock.withLock { self.recorded.append(input.wasKeyedAhead ? "keyed ahead" : "keyed after its input") }
            } catch {
                self.lock.withLock { self.recorded.append("ended: \(BackupError.wrap(error).message)") }
                throw error
            }
        }

        func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            try self.inner.decrypt(from: source, to: sink, passphrase: passphrase)
        }

        func releaseResources() { self.inner.releaseResources() }
        func removeAbandonedResources() { self.inner.removeAbandonedResources() }
    }

    /// Starts encrypting `input` with `cipher` on a thread of its own; the task's value is the ciphertext.
    func start(_ cipher: GPGSymmetricCipher, _ input: DeferredInput) -> Task<Data, any Error> {
        let passphrase = self.passphrase
        return Task {
            try await Blocking.run {
                let sink = LockedDataSink()
                try cipher.encrypt(deferred: input, to: sink, passphrase: passphrase)
                return sink.data
            }
        }
    }

    @Test func gpgTakesThePassphraseBeforeTheInputExistsAndStockGPGOpensTheResult() async throws {
        let cipher = GPGSymmetricCipher(compress: false)
        defer { cipher.releaseResources() }
        let input = DeferredInput()
        let encryption = self.start(cipher, input)
        // Fails with a cipher that waits for its input first (the protocol's default): it never
        // hands the passphrase over while the input is pending.
        #expect(try await Blocking.run { input.waitUntilKeyedAhead(timeout: 120) }, "gpg had the passphrase before the input was provided")
        input.provide([UInt8](self.plaintext))
        let ciphertext = try await encryption.value
        #expect(input.wasKeyedAhead)

        let directory = try TemporaryDirectory("deferred")
        try FileTree.writeAtomically(Data(self.passphrase.revealed.utf8), to: directory.sub("pw"), mode: 0o600)
        try FileTree.writeAtomically(ciphertext, to: directory.sub("index.gpg"))
        let home = directory.path
        let command = "gpg --homedir \(home) --batch --pinentry-mode loopback --passphrase-file \(home)/pw --output \(home)/plain --decrypt \(home)/index.gpg 2>&1; "
            + "status=$?; gpgconf --homedir \(home) --kill gpg-agent; exit $status"
        let result = try await Blocking.run { try shell(command) }
        #expect(result.status == 0, "\(result.output)")
        #expect(try FileTree.readFile(directory.sub("plain"), limit: 4 << 20) == self.plaintext)
        #expect(result.output.contains("AES256"), "\(result.output)")
    }

    @Test func anAbandonedInputEndsTheEncryptionWithItsErrorAndTheCipherStillWorks() async throws {
        let cipher = GPGSymmetricCipher(compress: false)
        defer { cipher.releaseResources() }
        let input = DeferredInput()
        let encryption = self.start(cipher, input)
        #expect(try await Blocking.run { input.waitUntilKeyedAhead(timeout: 120) })
        input.abandon(BackupError(.pluginFailed, "component snmp failed: abandoned by the test"))
        input.provide(Array("too late".utf8))
        // Fails if the abandoned read looked like the end of the input: gpg would encrypt nothing.
        let result = await encryption.result
        #expect(throws: BackupError.self) { try result.get() }
        if case .failure(let error) = result {
            #expect(BackupError.wrap(error).code == .pluginFailed, "\(error)")
            #expect(BackupError.wrap(error).message.contains("abandoned by the test"), "\(error)")
        }
        // The same cipher (the same job's gpg-agent) encrypts the next input as if nothing happened.
        let next = DeferredInput()
        next.provide([UInt8](self.plaintext))
        let ciphertext = try await self.start(cipher, next).value
        let sink = LockedDataSink()
        try await Blocking.run { try cipher.decrypt(from: MemoryByteSource(ciphertext), to: sink, passphrase: self.passphrase) }
        #expect(sink.data == self.plaintext)
        #expect(!next.wasKeyedAhead, "an input decided before the start holds nothing back")
    }

    @Test func aBackupHasItsIndexKeyedAheadAndTheRestoreAuthenticatesIt() async throws {
        let fixture = try Fixture("deferred-index")
        var orchestrator = fixture.runtime.orchestrator()
        let probe = IndexProbeCipher(orchestrator.cipher)
        orchestrator.cipher = probe
        let request = BackupRequest(target: fixture.target, store: fixture.store, manifest: try fixture.manifest(), securityPassword: fixture.password)
        let record = try await orchestrator.backup(request)
        #expect(record.status == .completed, "\(record.message)")
        // Fails when the index's encryption starts only once the index exists.
        #expect(probe.outcomes == ["keyed ahead"])
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        #expect(try forgery.sealed().components.count == (try fixture.manifest()).components.count)
        try fixture.mutateAppliance()
        let restore = try await fixture.restore()
        #expect(restore.status == .completed, "\(restore.message)")
    }

    @Test func aBackupWhoseLastComponentFailsEndsItsIndexEncryptionAndSaysWhy() async throws {
        let fixture = try Fixture("deferred-fails")
        try ConcurrentComponentsTests().writeScriptPlugin(fixture, id: "refuser", cases: """
            *'"collect"'*)
                echo 'refused on purpose' >&2; exit 1 ;;
            """)
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "refused", plugin: "refuser"))
        var orchestrator = fixture.runtime.orchestrator()
        let probe = IndexProbeCipher(orchestrator.cipher)
        orchestrator.cipher = probe
        let configured = orchestrator
        let request = BackupRequest(target: fixture.target, store: fixture.store, manifest: manifest, securityPassword: fixture.password, jobs: 1)
        // One at a time, the refused component starts last: the index's encryption starts with it.
        let job = Task { try await configured.backup(request) }
        let finished = try await CrashRecoveryTests().wait(seconds: 300) { probe.outcomes.count == 1 }
        #expect(finished, "the index's encryption ended")
        let record = try await job.value
        #expect(record.status == .error)
        #expect(record.message.contains("refused on purpose") && record.message.contains("nothing was committed"), "\(record.message)")
        #expect(probe.outcomes.count == 1 && probe.outcomes[0].hasPrefix("ended: ") && probe.outcomes[0].contains("refused on purpose"), "\(probe.outcomes)")
        #expect(try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.isEmpty, "nothing committed")
    }
}

/// A memory sink another thread may read once the writer is done.
final class LockedDataSink: ByteSink, @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = Data()

    var data: Data { self.lock.withLock { self.bytes } }

    func write(_ chunk: UnsafeRawBufferPointer) throws {
        self.lock.withLock { self.bytes.append(contentsOf: chunk) }
    }

    func finish() throws {}
}
