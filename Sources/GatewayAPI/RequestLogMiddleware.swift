import Hummingbird

/// Logs each request with its method, path and status, never a body (it may hold passwords). The
/// request id is Hummingbird's `hb.request.id`, already on the context's logger: the job a POST
/// starts logs with that logger, so its lines carry the same id.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        context.logger.info("request", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)"])
        return response
    }
}
