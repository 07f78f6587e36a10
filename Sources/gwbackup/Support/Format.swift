import BackupCore
import BackupModel
import BackupPOSIX
import Foundation

/// Formatting for people and for `--json`.
enum Format {
    static func bytes(_ count: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    static func time(_ epoch: Int64) -> String {
        epoch == 0 ? "-" : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(epoch)))
    }

    /// Prints `value` as pretty JSON on stdout.
    static func printJSON(_ value: some Encodable) throws {
        let data = try JSONCoding.encoder().encode(value)
        print(String(decoding: data, as: UTF8.self))
    }

    /// A job record for people: the outcome, then a line per component.
    static func describe(_ record: JobRecord, job: String) -> String {
        // Names and messages can come from a backup store or a plugin: escaped before the terminal.
        var lines = ["\(job) \(record.status.rawValue)" + (record.backup.map { ": \(SafeText.escaped($0))" } ?? "") + (record.subdir.isEmpty ? "" : " (\(SafeText.escaped(record.subdir)))")]
        for component in record.components {
            let size = component.bytes.map { Format.bytes($0) } ?? ""
            let message = component.message.isEmpty ? "" : "  \(SafeText.escaped(component.message, limit: 2000))"
            lines.append("  " + SafeText.escaped(component.name, limit: 64).padding(toLength: 14, withPad: " ", startingAt: 0)
                + component.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                + size.padding(toLength: 11, withPad: " ", startingAt: 0) + message)
            if let changes = component.changes { lines += Self.describe(changes, indent: "      ") }
        }
        if !record.message.isEmpty { lines.append(SafeText.escaped(record.message, limit: 8000)) }
        return lines.joined(separator: "\n")
    }

    /// The changed paths of a preview or a diff, one a line (`updated  etc/ntp.conf  (content)`), at
    /// most `limit` of them: the rest are counted, and `--json` has them all.
    static func describe(_ changes: ComponentChanges, indent: String, limit: Int = 200) -> [String] {
        var lines = changes.files.prefix(limit).map { file in
            indent + file.change.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + SafeText.escaped(file.path, limit: 4096)
                + (file.details.isEmpty ? "" : "  (\(file.details.joined(separator: ", ")))")
        }
        let more = changes.updated + changes.added + changes.removed - min(changes.files.count, limit)
        if more > 0 { lines.append(indent + "… and \(more) more (--json lists up to \(TreeComparison.listLimit))") }
        return lines
    }
}
