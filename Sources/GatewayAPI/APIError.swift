import BackupCore
import Foundation
import GatewayWire
import HTTPTypes
import Hummingbird

/// An error answer of the API: `{"error_id", "error_text"}` (plus `error_info` only when it has
/// data), with one of the document's IDs and statuses.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var id: String
    public var text: String

    public static func badRequest(_ text: String) -> APIError { APIError(status: .badRequest, id: "BAD_REQUEST", text: text) }
    public static let authRequired = APIError(status: .unauthorized, id: "AUTH_REQUIRED", text: "Authentication required.")
    public static let invalidCredentials = APIError(
        status: .unauthorized, id: "AUTH_INVALID_CREDENTIALS",
        text: "Make sure the user name is correct and type your password again. Be sure to use the correct case for the user name and password.")
    public static func internalError(_ text: String) -> APIError { APIError(status: .internalServerError, id: "INTERNAL_ERROR", text: text) }

    /// The JSON response.
    func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if self.status == .unauthorized { headers[.wwwAuthenticate] = "Basic realm=\"gwbackup\"" }
        let body = (try? JSONCoding.encoder().encode(WireError(errorID: self.id, errorText: self.text))) ?? Data()
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
