import BackupCore
import Foundation

/// One element of the `GET …/backup` answer; `last_successful` is `{}` before the first backup.
public struct BackupStatusAnswer: Decodable, Sendable {
    /// Decodes the whole answer, a one-element array, into a `BackupStatus`.
    public static func decode(_ data: Data) throws -> BackupStatus {
        let list = try JSONDecoder().decode([Self].self, from: data)
        guard let first = list.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the answer is an empty list"))
        }
        return BackupStatus(lastSuccessful: first.lastSuccessful, running: first.running)
    }

    var lastSuccessful: JobRecord?
    var running: JobRecord

    enum CodingKeys: String, CodingKey {
        case lastSuccessful = "last_successful"
        case running
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.running = try container.decode(JobRecord.self, forKey: .running)
        let last = try container.decodeIfPresent([String: JSONValue].self, forKey: .lastSuccessful) ?? [:]
        if last.isEmpty {
            self.lastSuccessful = nil
        } else {
            var record = try container.decode(JobRecord.self, forKey: .lastSuccessful)
            // The document gives `last_successful` no status: it completed, by definition.
            if record.status == .none { record.status = .completed }
            self.lastSuccessful = record
        }
    }
}
