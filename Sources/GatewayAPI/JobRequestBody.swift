import BackupCore
import Foundation

/// The body of `POST …/backup` and `POST …/restore`, checked field by field.
package struct JobRequestBody {
    var hostname: String
    var username: String?
    var password: String?
    var path: String?
    var securityPassword: String
    var noCert: Bool
    var port: Int?
    /// `run_id`: the caller's label for the job (one id for a whole fleet run), kept in its record.
    var runID: String?

    /// Parses and validates `data`; every problem is a `BAD_REQUEST` that names the field.
    package static func parse(_ data: Data, restore: Bool) throws -> JobRequestBody {
        guard !data.isEmpty else { throw APIError.badRequest("the request body is empty; a JSON object is required") }
        let object: [String: JSONValue]
        do {
            object = try JSONDecoder().decode([String: JSONValue].self, from: data)
        } catch {
            let isObject = (try? JSONDecoder().decode(JSONValue.self, from: data)) != nil
            throw APIError.badRequest(isObject ? "the request body must be a JSON object" : "the request body is not valid JSON")
        }
        func string(_ key: String) throws -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let text)?:
                // NUL and control characters have no place in a host, user, path or password: they
                // forge log lines and split names (`localhost\u{0}.evil.example`).
                guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                    throw APIError.badRequest("field '\(key)' contains a control character")
                }
                guard text.utf8.count <= 4096 else { throw APIError.badRequest("field '\(key)' is longer than 4096 bytes") }
                return text
            case let other?: throw APIError.badRequest("field '\(key)' must be a string, not \(other.typeName)")
            }
        }
        guard let hostname = try string("hostname"), !hostname.isEmpty else {
            throw APIError.badRequest("field 'hostname' is required (\"localhost\" for local storage)")
        }
        guard let security = try string("security_pwd"), !security.isEmpty else {
            throw APIError.badRequest("field 'security_pwd' is required and must not be empty")
        }
        var noCert = false
        if restore {
            switch object["no_cert"] {
            case nil, .null?: break
            case .bool(let flag)?: noCert = flag
            case .string("true")?: noCert = true
            case .string("false")?: noCert = false
            default: throw APIError.badRequest("field 'no_cert' must be \"true\" or \"false\"")
            }
        }
        var port: Int?
        switch object["port"] {
        case nil, .null?: break
        case .number(let number)? where number == number.rounded() && (1...65535).contains(number): port = Int(number)
        case .string(let text)? where Int(text).map({ (1...65535).contains($0) }) == true: port = Int(text)
        default: throw APIError.badRequest("field 'port' must be a TCP port (1-65535)")
        }
        let runID = try string("run_id")
        if let runID, !JobRecord.isValidRunID(runID) {
            throw APIError.badRequest("field 'run_id' must be 1-128 letters, digits or ._:+- characters")
        }
        let body = JobRequestBody(
            hostname: hostname, username: try string("username"), password: try string("password"), path: try string("path"),
            securityPassword: security, noCert: noCert, port: port, runID: runID)
        if !StorageTarget.isLocalHost(hostname) {
            for (key, value) in [("username", body.username), ("password", body.password), ("path", body.path)] where (value ?? "").isEmpty {
                throw APIError.badRequest("field '\(key)' is required for a remote host")
            }
            guard hostname.count <= 253, !hostname.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" }) else {
                throw APIError.badRequest("field 'hostname' is not a valid host name")
            }
        } else if let path = body.path, !path.isEmpty {
            guard path.hasPrefix("/") else { throw APIError.badRequest("field 'path' must be an absolute path for local storage") }
            guard !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw APIError.badRequest("field 'path' must not contain '.' or '..' components")
            }
        }
        return body
    }
}
