import Foundation

/// The user name and password of an `Authorization: Basic` header (RFC 7617).
struct BasicCredentials {
    let user: String
    let password: String

    /// Parses `header`: none, or not Basic, is `AUTH_REQUIRED`; Basic with no "user:password" in its
    /// base64 is `AUTH_INVALID_CREDENTIALS`. Headers over 4 KiB are not decoded.
    static func parse(_ header: String?) throws(APIError) -> BasicCredentials {
        guard let header else { throw .authRequired }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", parts[1].utf8.count <= 4096 else { throw .authRequired }
        guard let decoded = Data(base64Encoded: String(parts[1])).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":")
        else { throw .invalidCredentials }
        return BasicCredentials(user: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
    }
}
