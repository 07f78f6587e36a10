import Foundation
import Hummingbird

/// Logs each request with an id, method, path and status; never a body (it may hold passwords).
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response) async throws -> Response {
        var context = context
        context.logger[metadataKey: "request_id"] = "\(UUID().uuidString.prefix(8))"
        let response = try await next(request, context)
        context.logger.info("request", metadata: ["method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)"])
        return response
    }
}
