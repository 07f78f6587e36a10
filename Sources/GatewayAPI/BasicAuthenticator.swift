import BackupCore
import Foundation
import Hummingbird
import NIOCore

/// HTTP Basic authentication on every API request, against the user store. Failed attempts from an
/// address make its next answers slower, up to 5 s, so guessing passwords online does not pay.
actor BasicAuthenticator {
    let users: UserStore
    private var throttle = LoginThrottle()

    init(users: UserStore) {
        self.users = users
    }

    /// The authenticated user name, or throws `AUTH_REQUIRED` / `AUTH_INVALID_CREDENTIALS`.
    func authenticate(_ request: Request, address: SocketAddress?) async throws -> String {
        guard let header = request.headers[.authorization] else { throw APIError.authRequired }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic" else { throw APIError.authRequired }
        guard let decoded = Data(base64Encoded: String(parts[1])).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":")
        else { throw APIError.invalidCredentials }
        let name = String(decoded[..<colon])
        let password = String(decoded[decoded.index(after: colon)...])
        let key = address?.ipAddress ?? "unknown"
        let delay = self.throttle.delay(for: key)
        if delay > .zero { try await Task.sleep(for: delay) }
        let users = self.users
        let valid = try await Blocking.run("gwbackup.bcrypt") { try users.verify(name, password: password) }
        guard valid else {
            self.throttle.recordFailure(from: key)
            throw APIError.invalidCredentials
        }
        self.throttle.recordSuccess(from: key)
        return name
    }
}
