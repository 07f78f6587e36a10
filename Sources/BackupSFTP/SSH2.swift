import BackupCore
import BackupModel
import BackupPOSIX
import CSSH2

/// The one place libssh2 results are checked: every failure becomes a `BackupError` naming the call,
/// the code and libssh2's own message.
enum SSH2 {
    /// libssh2 must be initialised once per process before any session.
    static let initialized: Bool = libssh2_init(0) == 0

    /// libssh2's last error text for `session`.
    static func lastError(_ session: OpaquePointer) -> (code: Int32, message: String) {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &message, &length, 0)
        let text = message.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(length)), as: UTF8.self) } ?? "unknown error"
        return (code, text)
    }

    /// The error for a failed session-level call.
    static func error(_ call: String, session: OpaquePointer, code: BackupError.Code = .connection) -> BackupError {
        let (number, message) = lastError(session)
        return BackupError(code, "\(call) failed: \(message) (libssh2 error \(number))")
    }

    /// The error for a failed SFTP call on `path`, classified by the SFTP status when there is one
    /// (nil when the failure was the connection's, not the server's answer).
    static func sftpFailure(_ call: String, path: String, session: OpaquePointer, sftp: OpaquePointer) -> (error: BackupError, status: SFTPStatus?) {
        let (number, message) = lastError(session)
        guard number == cssh2_error_sftp_protocol() else {
            return (BackupError(.connection, "\(call) \(path) failed: \(message) (libssh2 error \(number)); the connection may have dropped"), nil)
        }
        // The status is the server's word: any 32-bit value, converted without trapping.
        let status = SFTPStatus(rawValue: UInt32(truncatingIfNeeded: libssh2_sftp_last_error(sftp)))
        return (BackupError(.storage, "\(call) \(path) on the remote host: \(status.reason) (\(message), SFTP status \(status.rawValue))"), status)
    }
}
