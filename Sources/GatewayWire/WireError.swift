import Foundation

/// The API's error envelope: `{"error_id", "error_text"}`.
public struct WireError: Codable, Sendable, Equatable {
    public var errorID: String
    public var errorText: String

    enum CodingKeys: String, CodingKey {
        case errorID = "error_id"
        case errorText = "error_text"
    }

    public init(errorID: String, errorText: String) {
        self.errorID = errorID
        self.errorText = errorText
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
