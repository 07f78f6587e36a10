import BackupCore
import BackupModel
import BackupPOSIX
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
    /// A POST refused because a job runs: the document's `BAD_REQUEST`, with `error_info.reason`
    /// `JOB_RUNNING` so that a client can tell it from a bad argument without reading the text.
    public static func jobRunning(_ text: String) -> APIError {
        var error = APIError(status: .badRequest, id: "BAD_REQUEST", text: text)
        error.info = ["reason": WireError.jobRunningReason]
        return error
    }
    public static let authRequired = APIError(status: .unauthorized, id: "AUTH_REQUIRED", text: "Authentication required.")
    public static let invalidCredentials = APIError(
        status: .unauthorized, id: "AUTH_INVALID_CREDENTIALS",
        text: "Make sure the user name is correct and type your password again. Be sure to use the correct case for the user name and password.")
    public static func internalError(_ text: String) -> APIError { APIError(status: .internalServerError, id: "INTERNAL_ERROR", text: text) }
    /// Credentials refused without being checked (too many checks waiting, from this address or in
    /// all): 429 with `Retry-After`. An extension of the document's table: never reported as a wrong
    /// password, since no password was compared.
    public static func tooManyAttempts(retryAfterSeconds: Int) -> APIError {
        var error = APIError(status: .tooManyRequests, id: "TOO_MANY_REQUESTS", text: "Too many login attempts are waiting to be checked; try again in \(retryAfterSeconds) s. The credentials were not checked.")
        error.retryAfterSeconds = retryAfterSeconds
        return error
    }
    /// The user's role does not allow the request: 403. An extension of the document's table.
    public static func forbidden(_ text: String) -> APIError { APIError(status: .forbidden, id: "AUTH_FORBIDDEN", text: text) }
    /// The server is shutting down and checks no more credentials: 503 with `Retry-After`.
    public static let shuttingDown: APIError = {
        var error = APIError(status: .serviceUnavailable, id: "SERVICE_UNAVAILABLE", text: "The server is shutting down.")
        error.retryAfterSeconds = 5
        return error
    }()

    /// Seconds for a `Retry-After` header (429, 503).
    public var retryAfterSeconds: Int?
    /// `error_info`, sent only when set.
    public var info: [String: String]?

    /// The JSON response.
    func response() -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if self.status == .unauthorized { headers[.wwwAuthenticate] = "Basic realm=\"gwbackup\"" }
        if let seconds = self.retryAfterSeconds { headers[.retryAfter] = "\(seconds)" }
        let body = (try? JSONCoding.encoder().encode(WireError(errorID: self.id, errorText: self.text, errorInfo: self.info))) ?? Data()
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
