import BackupModel
import Glibc

/// Turns failed system calls into `BackupError`s that name the call, the path and the reason.
package enum SystemCall {
    /// Makes writes to a closed pipe fail with EPIPE instead of killing the process. Idempotent.
    package static func ignoreBrokenPipes() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// The text of the current `errno`.
    package static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }

    /// An error for a failed call.
    package static func error(_ call: String, _ path: String? = nil, errno code: Int32 = errno) -> BackupError {
        let target = path.map { " \($0)" } ?? ""
        var error = BackupError(.system, "\(call)\(target): \(errnoText(code))")
        error.systemErrno = code
        return error
    }

    /// Calls `body` until it does not fail with EINTR; throws when it returns -1.
    @discardableResult
    package static func retrying<T: FixedWidthInteger>(_ call: String, _ path: String? = nil, _ body: () -> T) throws -> T {
        while true {
            let result = body()
            if result == -1 {
                if errno == EINTR { continue }
                throw error(call, path)
            }
            return result
        }
    }
}
