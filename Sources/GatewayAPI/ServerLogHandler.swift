import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
public import Logging

/// The server's log lines, in `StreamLogHandler`'s format (`2026-12-07T11:20:00+0000 info gwbackup:
/// key=value … [Source] message`, metadata sorted by key), queued to a `LogLineWriter`, and cheaper:
/// a server logs a line per request, and `StreamLogHandler` formats the time for each one with
/// glibc's `localtime`, which takes a process-wide lock and `stat`s /etc/localtime on every call
/// (issue 23: a `stat` and a contended lock per request on the two threads that answer them). Here
/// the timestamp is `LogLineWriter.timestamp()`, made once a second.
public struct ServerLogHandler: LogHandler {
    let label: String
    let writer: LogLineWriter
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    public var metadata = Logger.Metadata() {
        didSet { self.prettyMetadata = Self.prettify(self.metadata) }
    }
    private var prettyMetadata: String?

    /// A handler for `label`'s lines, queued to `writer`.
    public init(label: String, writer: LogLineWriter, metadataProvider: Logger.MetadataProvider?) {
        self.label = label
        self.writer = writer
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var pretty = self.prettyMetadata
        let provided = self.metadataProvider?.get() ?? [:]
        if self.metadata.isEmpty, provided.isEmpty, event.error == nil, let explicit = event.metadata {
            // The request lines: only the call's own metadata, nothing to merge it with.
            pretty = Self.prettify(explicit)
        } else if !provided.isEmpty || !(event.metadata ?? [:]).isEmpty || event.error != nil {
            var merged = self.metadata
            merged.merge(provided) { _, provided in provided }
            merged.merge(event.metadata ?? [:]) { _, explicit in explicit }
            if let error = event.error {
                merged["error.message"] = "\(error)"
                merged["error.type"] = "\(String(reflecting: type(of: error)))"
            }
            pretty = Self.prettify(merged)
        }
        let label = self.label.isEmpty ? "" : " " + self.label
        self.writer.write("\(LogLineWriter.timestamp()) \(event.level)\(label):\(pretty.map { " " + $0 } ?? "") [\(event.source)] \(event.message)\n")
    }

    private static func prettify(_ metadata: Logger.Metadata) -> String? {
        guard !metadata.isEmpty else { return nil }
        var text = ""
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            if !text.isEmpty { text += " " }
            text += key
            text += "="
            text += value.description
        }
        return text
    }
}
