import BackupCore
import BackupModel
import BackupPOSIX
@testable import BackupCrypto
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("GPGME symmetric cipher")
struct GPGCipherTests {
    let cipher = GPGSymmetricCipher()
    let passphrase = Secret("sesame 😀 with spaces")
    let plaintext = Data((0..<(5 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })

    func encrypted() throws -> Data {
        let sink = MemorySink()
        try self.cipher.encrypt(from: MemorySource(self.plaintext, chunk: 100_000), to: sink, passphrase: self.passphrase)
        return sink.data
    }

    @Test func roundTripStreamsAndIsAES256WithIntegrityProtection() throws {
        let ciphertext = try self.encrypted()
        let sink = MemorySink()
        try self.cipher.decrypt(from: MemorySource(ciphertext), to: sink, passphrase: self.passphrase)
        #expect(sink.data == self.plaintext)
        let directory = try TemporaryDirectory("gpg")
        try FileTree.writeAtomically(ciphertext, to: directory.sub("x.gpg"))
        let packets = try shell("gpg --homedir \(directory.path) --list-packets --batch --pinentry-mode loopback --passphrase '\(self.passphrase.revealed)' \(directory.sub("x.gpg")) 2>/dev/null | head -8; gpgconf --homedir \(directory.path) --kill gpg-agent")
        #expect(packets.output.contains("cipher 9"), "AES-256 is OpenPGP cipher 9: \(packets.output)")
        #expect(packets.output.contains("mdc_method: 2"), "integrity protection (MDC): \(packets.output)")
    }

    @Test func aWrongPasswordIsReportedAsSuch() throws {
        let ciphertext = try self.encrypted()
        #expect {
            try self.cipher.decrypt(from: MemorySource(ciphertext), to: MemorySink(), passphrase: Secret("wrong"))
        } throws: { ($0 as? BackupError)?.code == .wrongPassword }
        // The right one still works afterwards: nothing was cached in between, in either direction.
        try self.cipher.decrypt(from: MemorySource(ciphertext), to: MemorySink(), passphrase: self.passphrase)
        #expect(throws: BackupError.self) {
            try self.cipher.decrypt(from: MemorySource(ciphertext), to: MemorySink(), passphrase: Secret("wrong again"))
        }
    }

    @Test func tamperedOrTruncatedCiphertextFails() throws {
        let ciphertext = try self.encrypted()
        var flipped = ciphertext
        flipped[ciphertext.count / 2] ^= 0x01
        #expect(throws: BackupError.self) {
            try self.cipher.decrypt(from: MemorySource(flipped), to: MemorySink(), passphrase: self.passphrase)
        }
        #expect(throws: BackupError.self) {
            try self.cipher.decrypt(from: MemorySource(ciphertext.prefix(ciphertext.count - 100)), to: MemorySink(), passphrase: self.passphrase)
        }
        #expect {
            try self.cipher.decrypt(from: MemorySource(Data("plain text, not OpenPGP".utf8)), to: MemorySink(), passphrase: self.passphrase)
        } throws: { ($0 as? BackupError)?.code == .corrupted }
    }

    /// A sink that fails once it has taken `limit` bytes, as a full disk or a dropped connection does.
    final class FailingSink: ByteSink {
        let limit: Int
        private(set) var taken = 0
        init(failingAfter limit: Int) { self.limit = limit }
        func write(_ chunk: UnsafeRawBufferPointer) throws {
            guard self.taken + chunk.count <= self.limit else { throw BackupError(.storage, "no space left on the test's device") }
            self.taken += chunk.count
        }
        func finish() throws {}
    }

    @Test func aFailingOutputEndsTheOperationWithItsOwnErrorInEitherDirection() async throws {
        let ciphertext = try await Blocking.run { try self.encrypted() }
        for direction in ["decrypt", "encrypt"] {
            var failure: (any Error)?
            do {
                try await Blocking.run {
                    let sink = FailingSink(failingAfter: 1_024)
                    if direction == "decrypt" {
                        try self.cipher.decrypt(from: MemorySource(ciphertext, chunk: 100_000), to: sink, passphrase: self.passphrase)
                    } else {
                        try self.cipher.encrypt(from: MemorySource(self.plaintext, chunk: 100_000), to: sink, passphrase: self.passphrase)
                    }
                }
            } catch {
                failure = error
            }
            // Not "the security password does not open this backup": the operation was stopped
            // because of the sink, and says so.
            #expect(failure.map { BackupError.wrap($0).code } == .storage, "\(direction): \(String(describing: failure))")
            #expect(failure.map { BackupError.wrap($0).message.contains("no space left") } == true, "\(direction): \(String(describing: failure))")
        }
        // The cipher is still good for the next operation.
        let sink = LockedDataSink()
        try await Blocking.run { try self.cipher.decrypt(from: MemorySource(ciphertext), to: sink, passphrase: self.passphrase) }
        #expect(sink.data == self.plaintext)
    }

    /// A source that fails after `limit` bytes, as a dropped connection to the store does.
    final class FailingSource: ByteSource {
        let data: Data
        let limit: Int
        private var offset = 0
        init(_ data: Data, failingAfter limit: Int) {
            self.data = data
            self.limit = limit
        }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            guard self.offset < self.limit else { throw BackupError(.connection, "the connection to the store dropped (test)") }
            let count = min(buffer.count, self.limit - self.offset, self.data.count - self.offset, 64 << 10)
            self.data.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[self.offset..<(self.offset + count)])) }
            self.offset += count
            return count
        }
    }

    @Test func aFailingInputEndsTheOperationWithItsOwnErrorInEitherDirection() async throws {
        // Uncompressed, as format 2 has it: a ciphertext as large as the plaintext, to fail halfway.
        let cipher = GPGSymmetricCipher(compress: false)
        defer { cipher.releaseResources() }
        let ciphertext = try await Blocking.run { () -> Data in
            let sink = MemorySink()
            try cipher.encrypt(from: MemorySource(self.plaintext), to: sink, passphrase: self.passphrase)
            return sink.data
        }
        #expect(ciphertext.count > self.plaintext.count)
        for direction in ["decrypt", "encrypt"] {
            var failure: (any Error)?
            do {
                try await Blocking.run {
                    if direction == "decrypt" {
                        try cipher.decrypt(from: FailingSource(ciphertext, failingAfter: ciphertext.count / 2), to: NullSink(), passphrase: self.passphrase)
                    } else {
                        try cipher.encrypt(from: FailingSource(self.plaintext, failingAfter: 1 << 20), to: NullSink(), passphrase: self.passphrase)
                    }
                }
            } catch {
                failure = error
            }
            // Not "the security password does not open this backup", nor a truncated message: the
            // source failed, and the error says so.
            #expect(failure.map { BackupError.wrap($0).code } == .connection, "\(direction): \(String(describing: failure))")
            #expect(failure.map { BackupError.wrap($0).message.contains("dropped (test)") } == true, "\(direction): \(String(describing: failure))")
        }
    }

    /// Serves `data`, but after `pauseAt` bytes waits (up to 300 s) until `resume()`.
    final class PausingSource: ByteSource, @unchecked Sendable {
        let data: Data
        let pauseAt: Int
        private var offset = 0
        private let condition = NSCondition()
        private var resumed = false
        init(_ data: Data, pauseAt: Int) {
            self.data = data
            self.pauseAt = pauseAt
        }
        func resume() {
            self.condition.withLock {
                self.resumed = true
                self.condition.broadcast()
            }
        }
        func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            if self.offset >= self.pauseAt {
                let deadline = Date().addingTimeInterval(300)
                self.condition.withLock {
                    while !self.resumed && self.condition.wait(until: deadline) {}
                }
            }
            let limit = self.offset < self.pauseAt ? self.pauseAt : self.data.count
            let count = min(buffer.count, limit - self.offset)
            guard count > 0 else { return 0 }
            self.data.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[self.offset..<(self.offset + count)])) }
            self.offset += count
            return count
        }
    }

    /// The PIDs of gpg processes run in GnuPG home `home` with `operation` (`--decrypt`, `--symmetric`).
    func gpgProcesses(home: String, operation: String) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> Int32? in
            guard name.allSatisfy(\.isNumber), let line = FileManager.default.contents(atPath: "/proc/\(name)/cmdline") else { return nil }
            let arguments = line.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.first.map({ $0.hasSuffix("gpg") }) == true, arguments.contains(operation),
                let at = arguments.firstIndex(of: "--homedir"), at + 1 < arguments.count, arguments[at + 1] == home
            else { return nil }
            return Int32(name)
        }
    }

    @Test func aKilledGPGEndsTheOperationWithAnErrorInEitherDirection() async throws {
        let cipher = GPGSymmetricCipher(compress: false)
        defer { cipher.releaseResources() }
        let home = try cipher.homes.home().path
        let large = Data(self.plaintext + self.plaintext + self.plaintext)
        let ciphertext = try await Blocking.run { () -> Data in
            let sink = MemorySink()
            try cipher.encrypt(from: MemorySource(large), to: sink, passphrase: self.passphrase)
            return sink.data
        }
        for (direction, operation) in [("decrypt", "--decrypt"), ("encrypt", "--symmetric")] {
            // The source stops a megabyte in, gpg mid-stream; the test kills that gpg, then lets it go on.
            let source = PausingSource(direction == "decrypt" ? ciphertext : large, pauseAt: 1 << 20)
            let passphrase = self.passphrase
            let operationTask = Task {
                try await Blocking.run {
                    if direction == "decrypt" {
                        try cipher.decrypt(from: source, to: NullSink(), passphrase: passphrase)
                    } else {
                        try cipher.encrypt(from: source, to: NullSink(), passphrase: passphrase)
                    }
                }
            }
            var killed: [Int32] = []
            let found = try await CrashRecoveryTests().wait(seconds: 300) {
                killed = self.gpgProcesses(home: home, operation: operation)
                return !killed.isEmpty
            }
            #expect(found, "\(direction): its gpg was seen")
            for pid in killed { kill(pid, SIGKILL) }
            #expect(try await CrashRecoveryTests().wait(seconds: 60) { killed.allSatisfy { !processIsAlive($0) } }, "\(direction): gpg is gone")
            source.resume()
            // Neither a hang nor a success: whatever gpg had not finished is not taken for done.
            let result = await operationTask.result
            #expect(throws: BackupError.self, "\(direction)") { try result.get() }
        }
        // The same cipher (its gpg-agent untouched) goes on working.
        let sink = LockedDataSink()
        try await Blocking.run { try cipher.decrypt(from: MemorySource(ciphertext), to: sink, passphrase: self.passphrase) }
        #expect(sink.data == large)
    }

    @Test func stockGPGAndThisCipherReadEachOther() throws {
        let directory = try TemporaryDirectory("gpg")
        try FileTree.writeAtomically(Data(self.passphrase.revealed.utf8), to: directory.sub("pw"))
        try FileTree.writeAtomically(try self.encrypted(), to: directory.sub("ours.gpg"))
        try FileTree.writeAtomically(self.plaintext, to: directory.sub("plain"))
        let gpg = "gpg --homedir \(directory.path) --batch --pinentry-mode loopback --passphrase-file \(directory.sub("pw"))"
        let result = try shell("""
            \(gpg) --output \(directory.sub("decrypted")) --decrypt \(directory.sub("ours.gpg")) && \
            \(gpg) --symmetric --cipher-algo AES256 --output \(directory.sub("theirs.gpg")) \(directory.sub("plain")); \
            status=$?; gpgconf --homedir \(directory.path) --kill gpg-agent; exit $status
            """)
        #expect(result.status == 0, "\(result.output)")
        #expect(try FileTree.readFile(directory.sub("decrypted"), limit: 64 << 20) == self.plaintext)
        let sink = MemorySink()
        try self.cipher.decrypt(from: FileDescriptorStream.openForReading(directory.sub("theirs.gpg")), to: sink, passphrase: self.passphrase)
        #expect(sink.data == self.plaintext)
    }
}
