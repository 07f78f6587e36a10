import BackupCore
import BackupModel
import BackupPOSIX
import CGPGME

/// The one place C calls into GPGME are checked: every failure becomes a `BackupError` that names the
/// call, the code and GPGME's own message.
enum GPGME {
    /// GPGME must be initialised (its version check) once, before any other call.
    static let version: String = {
        guard let version = cgpgme_check_version(nil) else { return "unknown" }
        return String(cString: version)
    }()

    /// Throws when `error` is not success.
    static func check(_ error: gpgme_error_t, _ call: String) throws {
        guard error != 0 else { return }
        throw self.error(error, call)
    }

    /// The `BackupError` for a failed call.
    static func error(_ error: gpgme_error_t, _ call: String) -> BackupError {
        BackupError(.cryptoFailed, "\(call) failed: \(self.message(error)) (code \(cgpgme_err_code(error)))")
    }

    /// GPGME's text for `error`.
    static func message(_ error: gpgme_error_t) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = gpgme_strerror_r(error, &buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
