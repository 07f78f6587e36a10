import BackupCore
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
        var lines = ["\(job) \(record.status.rawValue)" + (record.backup.map { ": \($0)" } ?? "") + (record.subdir.isEmpty ? "" : " (\(record.subdir))")]
        for component in record.components {
            let size = component.bytes.map { Format.bytes($0) } ?? ""
            let message = component.message.isEmpty ? "" : "  \(component.message)"
            lines.append("  " + component.name.padding(toLength: 14, withPad: " ", startingAt: 0)
                + component.status.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0)
                + size.padding(toLength: 11, withPad: " ", startingAt: 0) + message)
        }
        if !record.message.isEmpty { lines.append(record.message) }
        return lines.joined(separator: "\n")
    }
}
