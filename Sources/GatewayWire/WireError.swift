import BackupModel
import Foundation

/// The API's error envelope: `{"error_id", "error_text"}`, plus `error_info` when it has data.
///
/// `error_info.reason` refines an `error_id` of the document's table for clients that act on it
/// (this server's extension): `JOB_RUNNING` for a `BAD_REQUEST` refused because a job runs. Clients
/// classify by these fields, never by the text, which is for people.
public struct WireError: Codable, Sendable, Equatable {
    public var errorID: String
    public var errorText: String
    public var errorInfo: [String: String]?

    /// `error_info.reason` of a POST refused because another job runs.
    public static let jobRunningReason = "JOB_RUNNING"

    enum CodingKeys: String, CodingKey {
        case errorID = "error_id"
        case errorText = "error_text"
        case errorInfo = "error_info"
    }

    public init(errorID: String, errorText: String, errorInfo: [String: String]? = nil) {
        self.errorID = errorID
        self.errorText = errorText
        self.errorInfo = errorInfo
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.errorID = try container.decode(String.self, forKey: .errorID)
        self.errorText = try container.decode(String.self, forKey: .errorText)
        // Other servers of the family may put anything there: only string values are read.
        self.errorInfo = (try? container.decodeIfPresent([String: JSONValue].self, forKey: .errorInfo))??.compactMapValues { value in
            if case .string(let text) = value { return text }
            return nil
        }
    }
}

/// An element of `GET /api/common/1.0/services`.
public struct WireService: Codable, Sendable, Equatable {
    public var id: String
    public var versions: [String]

    /// What this server offers.
    public static let offered = [WireService(id: "common", versions: ["1.0"]), WireService(id: "mgmt.gateway_backup", versions: ["1.0"])]

    public init(id: String, versions: [String]) {
        self.id = id
        self.versions = versions
    }
}

/// `GET /api/common/1.0/auth_info`.
public struct WireAuthInfo: Codable, Sendable, Equatable {
    public var supportedMethods: [String]

    enum CodingKeys: String, CodingKey {
        case supportedMethods = "supported_methods"
    }

    public static let basic = WireAuthInfo(supportedMethods: ["BASIC"])

    public init(supportedMethods: [String]) {
        self.supportedMethods = supportedMethods
    }
}
