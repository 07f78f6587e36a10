public import BackupModel
import Foundation

/// A request body that breaks the API's rules; its message names the field.
public struct WireRequestError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { self.message }

    public init(_ message: String) {
        self.message = message
    }
}

/// The body of `POST …/backup` and `POST …/restore`, as the API document names its fields, plus
/// this server's `port` and `run_id`. Decoding checks every field and fails with a message that
/// names it; encoding (the client's) reveals the secrets into the body and nowhere else.
public struct WireJobRequest: Codable, Sendable {
    /// `"localhost"` for the server's own backup directory; any other host is reached over SFTP.
    public var hostname: String
    public var username: String?
    /// The SSH password, for a remote host.
    public var password: Secret?
    public var path: String?
    public var port: Int?
    public var securityPassword: Secret
    /// Restore only: leave out the certificate-bound components.
    public var noCert: Bool?
    /// The caller's label for the job (one id for a whole fleet run), kept in its record.
    public var runID: String?
    /// Restore only, an extension: this backup by name instead of the newest authenticated one.
    public var backup: String?
    /// Restore only, an extension: only these components (all when nil or empty).
    public var components: [String]?
    /// Restore only, an extension: a backup of this appliance (its identifier) instead of this one's own.
    public var appliance: String?

    public init(hostname: String, username: String? = nil, password: Secret? = nil, path: String? = nil, port: Int? = nil, securityPassword: Secret, noCert: Bool? = nil, runID: String? = nil, backup: String? = nil, components: [String]? = nil, appliance: String? = nil) {
        self.hostname = hostname
        self.username = username
        self.password = password
        self.path = path
        self.port = port
        self.securityPassword = securityPassword
        self.noCert = noCert
        self.runID = runID
        self.backup = backup
        self.components = components
        self.appliance = appliance
    }

    enum CodingKeys: String, CodingKey {
        case hostname, username, password, path, port
        case securityPassword = "security_pwd"
        case noCert = "no_cert"
        case runID = "run_id"
        case backup, components, appliance
    }

    /// Whether `name` can name a backup in a request: not empty, at most 255 bytes, no `/`, not
    /// starting with `.`, no control character. (The store confines it again; this refuses early.)
    public static func isBackupName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.hasPrefix(".") && !name.contains("/")
            && !name.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }

    /// Parses a body: not empty, JSON, an object, then field by field.
    public static func parse(_ data: Data) throws -> WireJobRequest {
        guard !data.isEmpty else { throw WireRequestError("the request body is empty; a JSON object is required") }
        do {
            return try JSONDecoder().decode(WireJobRequest.self, from: data)
        } catch let error as WireRequestError {
            throw error
        } catch {
            let isJSON = (try? JSONDecoder().decode(JSONValue.self, from: data)) != nil
            throw WireRequestError(isJSON ? "the request body must be a JSON object" : "the request body is not valid JSON")
        }
    }

    public init(from decoder: any Decoder) throws {
        let object = try decoder.singleValueContainer().decode([String: JSONValue].self)
        func string(_ key: CodingKeys) throws -> String? {
            switch object[key.stringValue] {
            case nil, .null?: return nil
            case .string(let text)?:
                // NUL and control characters have no place in a host, user, path or password: they
                // forge log lines and split names (`localhost\u{0}.evil.example`).
                guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                    throw WireRequestError("field '\(key.stringValue)' contains a control character")
                }
                guard text.utf8.count <= 4096 else { throw WireRequestError("field '\(key.stringValue)' is longer than 4096 bytes") }
                return text
            case let other?: throw WireRequestError("field '\(key.stringValue)' must be a string, not \(other.typeName)")
            }
        }
        // A preview has an endpoint of its own (`POST …/restore/preview`): a server that did not know
        // a `dry_run` field would restore for real, so no server of this family accepts one here.
        if object["dry_run"] != nil {
            throw WireRequestError("field 'dry_run' is not part of a restore: POST …/restore/preview previews a restore and changes nothing")
        }
        guard let hostname = try string(.hostname), !hostname.isEmpty else {
            throw WireRequestError("field 'hostname' is required (\"localhost\" for local storage)")
        }
        guard let security = try string(.securityPassword), !security.isEmpty else {
            throw WireRequestError("field 'security_pwd' is required and must not be empty")
        }
        switch object[CodingKeys.noCert.stringValue] {
        case nil, .null?: self.noCert = nil
        case .bool(let flag)?: self.noCert = flag
        case .string("true")?: self.noCert = true
        case .string("false")?: self.noCert = false
        default: throw WireRequestError("field 'no_cert' must be \"true\" or \"false\"")
        }
        switch object[CodingKeys.port.stringValue] {
        case nil, .null?: self.port = nil
        case .number(let number)? where number == number.rounded() && (1...65535).contains(number): self.port = Int(number)
        case .string(let text)? where Int(text).map({ (1...65535).contains($0) }) == true: self.port = Int(text)
        default: throw WireRequestError("field 'port' must be a TCP port (1-65535)")
        }
        let runID = try string(.runID)
        if let runID, !JobRecord.isValidRunID(runID) {
            throw WireRequestError("field 'run_id' must be 1-128 letters, digits or ._:+- characters")
        }
        let backup = try string(.backup)
        if let backup, !Self.isBackupName(backup) {
            throw WireRequestError("field 'backup' must be a backup's name (not empty, no '/', not starting with '.')")
        }
        self.backup = backup
        switch object[CodingKeys.components.stringValue] {
        case nil, .null?: self.components = nil
        case .array(let items)?:
            guard items.count <= 1024 else { throw WireRequestError("field 'components' lists more than 1024 components") }
            self.components = try items.map { item in
                guard case .string(let name) = item, ManifestComponent.isValidName(name) else {
                    throw WireRequestError("field 'components' must be an array of component names")
                }
                return name
            }
        default: throw WireRequestError("field 'components' must be an array of component names")
        }
        let appliance = try string(.appliance)
        if let appliance, !ApplianceIdentity.isValid(appliance) {
            throw WireRequestError("field 'appliance' must be an appliance identifier (gw- and 32 hex digits)")
        }
        self.appliance = appliance
        self.hostname = hostname
        self.username = try string(.username)
        self.password = try string(.password).map(Secret.init)
        self.path = try string(.path)
        self.securityPassword = Secret(security)
        self.runID = runID
        if !StorageTarget.isLocalHost(hostname) {
            for (key, value) in [("username", self.username), ("password", self.password?.revealed), ("path", self.path)] where (value ?? "").isEmpty {
                throw WireRequestError("field '\(key)' is required for a remote host")
            }
            guard hostname.count <= 253, !hostname.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" }) else {
                throw WireRequestError("field 'hostname' is not a valid host name")
            }
        } else if let path = self.path, !path.isEmpty {
            guard path.hasPrefix("/") else { throw WireRequestError("field 'path' must be an absolute path for local storage") }
            guard !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw WireRequestError("field 'path' must not contain '.' or '..' components")
            }
        }
    }

    /// The body. It holds secrets: it goes to the request and nowhere else.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.hostname, forKey: .hostname)
        try container.encodeIfPresent(self.username, forKey: .username)
        try container.encodeIfPresent(self.password?.revealed, forKey: .password)
        try container.encodeIfPresent(self.path, forKey: .path)
        try container.encodeIfPresent(self.port, forKey: .port)
        try container.encode(self.securityPassword.revealed, forKey: .securityPassword)
        // The document's clients send the flag as a string.
        try container.encodeIfPresent(self.noCert.map { $0 ? "true" : "false" }, forKey: .noCert)
        try container.encodeIfPresent(self.runID, forKey: .runID)
        try container.encodeIfPresent(self.backup, forKey: .backup)
        try container.encodeIfPresent(self.components, forKey: .components)
        try container.encodeIfPresent(self.appliance, forKey: .appliance)
    }
}
