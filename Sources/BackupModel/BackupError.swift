/// An error from any part of GatewayBackup: a code to branch on, a message for people, and where it happened.
///
/// A struct rather than an enum so that new codes can be added without breaking callers
/// (the pattern of swift-nio's `FileSystemError`).
public struct BackupError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        package let name: String
        public var description: String { self.name }

        /// Bad input: a request, manifest, option or file that cannot be used.
        public static let invalidInput = Code(name: "invalid input")
        /// The manifest failed validation.
        public static let invalidManifest = Code(name: "invalid manifest")
        /// A plugin is missing, broken or failed.
        public static let pluginFailed = Code(name: "plugin failed")
        /// Encryption or decryption failed for a reason other than the password.
        public static let cryptoFailed = Code(name: "crypto failed")
        /// The security password does not open the backup.
        public static let wrongPassword = Code(name: "wrong security password")
        /// Stored data does not match what the backup recorded (checksum, size, format).
        public static let corrupted = Code(name: "corrupted backup")
        /// A backup's index does not authenticate with the security password, names another backup,
        /// or is missing (a format 1 backup, or one whose index was stripped).
        public static let unauthenticated = Code(name: "unauthenticated backup")
        /// An archive entry would land outside its target directory.
        public static let unsafeArchive = Code(name: "unsafe archive")
        /// No usable backup was found.
        public static let notFound = Code(name: "not found")
        /// Another job holds the job lock.
        public static let busy = Code(name: "busy")
        /// A storage operation failed (local filesystem or remote host).
        public static let storage = Code(name: "storage")
        /// A connection to a remote host failed or was refused.
        public static let connection = Code(name: "connection")
        /// Authentication to a remote host failed.
        public static let authentication = Code(name: "authentication")
        /// A remote host presented a key that is not trusted.
        public static let hostKey = Code(name: "host key")
        /// A job was interrupted (killed, restarted, shut down).
        public static let interrupted = Code(name: "interrupted")
        /// A system call failed.
        public static let system = Code(name: "system")
    }

    /// What kind of failure this is.
    public var code: Code
    /// A message a user can act on. Never contains a secret.
    public var message: String
    /// The manifest component concerned, when there is one.
    public var component: String?
    /// The `errno` of a failed system call, when that is the cause.
    public var systemErrno: Int32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, component: String? = nil) {
        self.code = code
        self.message = message
        self.component = component
    }

    public var description: String {
        if let component = self.component {
            return "\(component): \(self.message)"
        }
        return self.message
    }

    /// The same error, attributed to a component unless it already names one.
    public func attributed(to component: String) -> BackupError {
        var copy = self
        if copy.component == nil { copy.component = component }
        return copy
    }

    /// Wraps any error as a `BackupError`, keeping a `BackupError` as it is.
    public static func wrap(_ error: any Error, as code: Code = .system, component: String? = nil) -> BackupError {
        if let backupError = error as? BackupError {
            return component.map { backupError.attributed(to: $0) } ?? backupError
        }
        return BackupError(code, String(describing: error), component: component)
    }
}
