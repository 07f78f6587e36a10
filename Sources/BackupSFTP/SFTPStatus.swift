/// An SFTP status code (draft-ietf-secsh-filexfer-02, `SSH_FX_*`), as the server reports a failed
/// request through `libssh2_sftp_last_error`. The server's word: any 32-bit value is possible, and
/// those this client does not know keep their number.
struct SFTPStatus: RawRepresentable, Hashable, Sendable {
    let rawValue: UInt32

    init(rawValue: UInt32) {
        self.rawValue = rawValue
    }

    static let noSuchFile = SFTPStatus(rawValue: 2)
    static let permissionDenied = SFTPStatus(rawValue: 3)
    static let failure = SFTPStatus(rawValue: 4)
    static let operationUnsupported = SFTPStatus(rawValue: 8)
    static let noSuchPath = SFTPStatus(rawValue: 10)
    static let fileAlreadyExists = SFTPStatus(rawValue: 11)
    static let writeProtected = SFTPStatus(rawValue: 12)
    static let noSpaceOnFilesystem = SFTPStatus(rawValue: 14)
    static let quotaExceeded = SFTPStatus(rawValue: 15)
    static let directoryNotEmpty = SFTPStatus(rawValue: 18)
    static let notADirectory = SFTPStatus(rawValue: 19)

    /// True for the statuses that say the path does not exist.
    var meansMissing: Bool { self == .noSuchFile || self == .noSuchPath }

    /// What it means, for an error message.
    var reason: String {
        switch self {
        case .noSuchFile: "no such file or directory"
        case .permissionDenied: "permission denied"
        case .failure: "failure (the server gave no reason; a full disk is a common one)"
        case .operationUnsupported: "operation not supported by the server"
        case .noSuchPath: "no such path"
        case .fileAlreadyExists: "already exists"
        case .writeProtected: "write protected"
        case .noSpaceOnFilesystem: "no space left on the remote filesystem"
        case .quotaExceeded: "quota exceeded"
        case .directoryNotEmpty: "directory not empty"
        case .notADirectory: "not a directory"
        default: "SFTP status \(self.rawValue)"
        }
    }
}
