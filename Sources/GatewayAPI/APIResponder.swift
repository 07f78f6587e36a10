import BackupCore
import BackupModel
import BackupPOSIX
import HTTPTypes
import Hummingbird
import Logging

/// Wraps the router so that every failure, including unknown routes and wrong methods, answers with
/// the API's error envelope and one of its documented IDs; nothing a client sends yields a bare 500.
///
/// It also logs each request once, with the status it was answered (an unknown route is logged 400,
/// as it is answered), its method and escaped path, never a body (it may hold passwords). The
/// request id is Hummingbird's `hb.request.id`, already on the context's logger: the job a POST
/// starts logs with that logger, so its lines carry the same id.
struct APIResponder: HTTPResponder {
    let router: RouterResponder<APIRequestContext>

    func respond(to request: Request, context: APIRequestContext) async throws -> Response {
        let response = await self.answer(request, context: context)
        // The path is the client's: escaped and quoted, so it cannot forge lines or fields.
        Self.logAnswer(method: request.method, escapedPath: SafeText.field(request.uri.path), status: response.status.code, logger: context.logger)
        return response
    }

    /// The request's line: method, path, status (`StatusFastPath` logs its answers the same way).
    /// `escapedPath` as `SafeText.field` makes it; `requestID` is for a logger without one (the
    /// router's loggers carry `hb.request.id` already).
    static func logAnswer(method: HTTPRequest.Method, escapedPath: String, status: Int, logger: Logger, requestID: RequestID? = nil) {
        var metadata: Logger.Metadata = ["method": "\(method)", "path": "\(escapedPath)", "status": "\(status)"]
        if let requestID { metadata["hb.request.id"] = "\(requestID)" }
        if status < 400 {
            logger.info("request", metadata: metadata)
        } else {
            logger.notice("request", metadata: metadata)
        }
    }

    private func answer(_ request: Request, context: APIRequestContext) async -> Response {
        do {
            let response = try await self.router.respond(to: request, context: context)
            // The router answers an unknown path or method with a bare 404/405: use the envelope.
            switch response.status {
            case .notFound: return APIError.badRequest("no such resource: \(request.method) \(request.uri.path)").response()
            case .methodNotAllowed: return APIError.badRequest("method \(request.method) is not allowed on \(request.uri.path)").response()
            default: return response
            }
        } catch let error as APIError {
            return error.response()
        } catch let error as HTTPError {
            switch error.status {
            case .notFound: return APIError.badRequest("no such resource: \(request.method) \(request.uri.path)").response()
            case .methodNotAllowed: return APIError.badRequest("method \(request.method) is not allowed on \(request.uri.path)").response()
            case .contentTooLarge: return APIError.badRequest("the request body is too large").response()
            default:
                if (400..<500).contains(error.status.code) {
                    return APIError.badRequest(error.body ?? error.status.reasonPhrase).response()
                }
                context.logger.error("request failed", metadata: ["error": "\(error)"])
                return APIError.internalError("internal error").response()
            }
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            return APIError.internalError("internal error").response()
        }
    }
}
