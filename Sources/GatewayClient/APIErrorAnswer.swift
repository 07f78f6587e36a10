import BackupModel
import Foundation
import GatewayWire
import NIOHTTP1

/// The API's error envelope (`WireError`) turned into a `BackupError` whose code the CLI maps to an
/// exit code.
enum APIErrorAnswer {
    /// The error for a non-2xx answer; a body that is not an envelope is quoted (shortened).
    static func decode(_ data: Data, status: HTTPResponseStatus, server: String) -> BackupError {
        guard let envelope = try? JSONDecoder().decode(WireError.self, from: data) else {
            let text = String(decoding: data.prefix(200), as: UTF8.self)
            return BackupError(.system, "\(server) answered \(status.code) \(status.reasonPhrase): \(text.isEmpty ? "(no body)" : text)")
        }
        let message = "\(server) refused: \(envelope.errorID): \(envelope.errorText)"
        switch envelope.errorID {
        case "AUTH_REQUIRED", "AUTH_INVALID_CREDENTIALS":
            return BackupError(.authentication, message)
        case "BAD_REQUEST" where envelope.errorInfo?["reason"] == WireError.jobRunningReason:
            return BackupError(.busy, message)
        case "BAD_REQUEST":
            return BackupError(.invalidInput, message)
        default:
            return BackupError(.system, message)
        }
    }
}
