import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Logging
import Synchronization
import Testing

/// `gwbackup serve`'s log lines keep `StreamLogHandler`'s format (operators' log parsers and the
/// docs rely on it) while costing less.
@Suite("The server's log lines")
struct ServerLogHandlerTests {
    /// What a `StreamLogHandler` writes.
    final class Collected: TextOutputStream, Sendable {
        let text = Mutex("")
        func write(_ string: String) { self.text.withLock { $0 += string } }
    }

    @Test func linesAreWhatStreamLogHandlerWritesForTheSameEvents() throws {
        let directory = try TemporaryDirectory("server-log")
        let path = directory.sub("log")
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let writer = LogLineWriter(fileDescriptor: fd)
        let reference = Collected()
        var ours = Logger(label: "gwbackup") { ServerLogHandler(label: $0, writer: writer, metadataProvider: nil) }
        var theirs = Logger(label: "gwbackup") { StreamLogHandler(label: $0, stream: reference, metadataProvider: nil) }
        // Retried if the two loggers' lines straddle a second (their timestamps would differ).
        for _ in 0..<3 {
            let second = time(nil)
            for logger in [ours, theirs] {
                logger.info("request", metadata: ["method": "GET", "path": #""/a b""#, "status": "200", "hb.request.id": "f00"])
                logger.notice("plain")
                logger.warning("failed", error: BackupError(.storage, "the disk is full"), metadata: ["z": "1", "a": "2"])
            }
            ours[metadataKey: "job"] = "backup"
            theirs[metadataKey: "job"] = "backup"
            for logger in [ours, theirs] {
                logger.info("with base metadata", metadata: ["job_id": "j1"])
                logger.info("base metadata only")
            }
            ours[metadataKey: "job"] = nil
            theirs[metadataKey: "job"] = nil
            guard time(nil) == second else {
                reference.text.withLock { $0 = "" }
                continue
            }
            break
        }
        #expect(writer.drain(timeout: .seconds(5)))
        let written = String(decoding: try FileTree.readFile(path), as: UTF8.self)
        let expected = reference.text.withLock { $0 }
        // Our writer kept every try's lines: the last try's are the ones compared.
        #expect(written.hasSuffix(expected), "ours:\n\(written)\ntheirs:\n\(expected)")
        #expect(expected.contains(#"path="/a b" status=200 [IntegrationTests] request"#), "\(expected)")
    }
}
