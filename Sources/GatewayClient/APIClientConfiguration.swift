public import BackupModel
import Foundation

/// Where the API server is and how to talk to it.
public struct APIClientConfiguration: Sendable {
    /// The server's base URL, `https://HOST[:PORT]`, without a trailing slash.
    public let baseURL: String
    public let user: String
    public let password: Secret
    /// Skips certificate verification (a self-signed certificate one has not copied).
    public let insecure: Bool
    /// A PEM file of certificates to trust instead of the system's (e.g. the server's own self-signed one).
    public let trustedCertificates: String?
    /// How long one request may take.
    public var requestTimeout: Duration = .seconds(30)

    public init(server: String, user: String, password: Secret, insecure: Bool = false, trustedCertificates: String? = nil) throws {
        guard !user.isEmpty else { throw BackupError(.invalidInput, "--api-user must not be empty") }
        guard !user.contains(":") else { throw BackupError(.invalidInput, "--api-user must not contain ':'") }
        self.baseURL = try Self.baseURL(server)
        self.user = user
        self.password = password
        self.insecure = insecure
        self.trustedCertificates = trustedCertificates
    }

    /// The base URL `server` names, checked: HTTPS only, since Basic credentials would otherwise
    /// cross the network in clear; a host, and nothing after the port.
    public static func baseURL(_ server: String) throws -> String {
        var text = server.trimmingCharacters(in: .whitespaces)
        while text.hasSuffix("/") { text.removeLast() }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else {
            throw BackupError(.invalidInput, "--server '\(server)' is not a URL; expected https://HOST[:PORT]")
        }
        guard scheme == "https" else {
            throw BackupError(.invalidInput, "--server must be an https:// URL (the API is served over HTTPS only; Basic credentials must not travel in clear), not '\(server)'")
        }
        guard let host = url.host, !host.isEmpty else {
            throw BackupError(.invalidInput, "--server '\(server)' has no host; expected https://HOST[:PORT]")
        }
        guard url.path.isEmpty, url.query == nil, url.user == nil else {
            throw BackupError(.invalidInput, "--server takes https://HOST[:PORT] only, without a path, query or user: '\(server)'")
        }
        return text
    }
}
