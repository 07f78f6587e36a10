/// A password or passphrase. Its description is redacted so that it never reaches a log,
/// an error message or a status file by accident.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, Equatable {
    /// The secret text. Read it only where it is handed to the library that needs it.
    public let revealed: String

    /// Wraps a secret.
    public init(_ value: String) {
        self.revealed = value
    }

    /// True when the secret is the empty string.
    public var isEmpty: Bool { self.revealed.isEmpty }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}
