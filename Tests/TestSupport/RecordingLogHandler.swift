import Foundation
import Logging

/// A log handler that keeps every line in memory, so tests can check what was logged (and that no
/// secret was). Used through `Logger(label:factory:)`; logging is never bootstrapped in tests.
public struct RecordingLogHandler: LogHandler {
    /// The lines logged so far, shared by copies of the handler.
    public final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var storage: [String] = []
        public init() {}
        func append(_ line: String) { self.lock.withLock { self.storage.append(line) } }
        public var all: [String] { self.lock.withLock { self.storage } }
    }

    public let lines: Lines
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init(lines: Lines) {
        self.lines = lines
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        self.lines.append("\(event.level) \(event.message) \(merged)")
    }

    /// A logger that records into `lines`.
    public static func logger(_ lines: Lines) -> Logger {
        Logger(label: "test") { _ in RecordingLogHandler(lines: lines) }
    }
}
