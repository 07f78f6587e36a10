import BackupCore
import Hummingbird

/// Logs each request with its method, path and status, never a body (it may hold passwords). The
/// request id is Hummingbird's `hb.request.id`, already on the context's logger: the job a POST
/// starts logs with that logger, so its lines carry the same id.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response) async throws -> Response {
        // The path is the client's: escaped, so it cannot forge lines. Refusals are logged too.
        let path = SafeText.escaped(request.uri.path, limit: 300)
        do {
            let response = try await next(request, context)
            context.logger.info("request", metadata: ["method": "\(request.method)", "path": "\(path)", "status": "\(response.status.code)"])
            return response
        } catch {
            let status = (error as? APIError)?.status.code ?? (error as? any HTTPResponseError)?.status.code ?? 500
            context.logger.notice("request", metadata: ["method": "\(request.method)", "path": "\(path)", "status": "\(status)"])
            throw error
        }
    }
}
