import BackupCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

/// HTTP Basic authentication on every API request, against the user store.
///
/// Guessing passwords online does not pay: from one address, password checks happen one at a time,
/// each after the delay its address's failures earned (`LoginThrottle`, up to 5 s); an attempt that
/// would queue behind more than `queueLimit` others is refused at once, without checking the
/// password. bcrypt runs on a small thread pool of its own, never a thread per request, and
/// credentials verified in the last minute are not checked again (`CredentialCache`), so a client
/// that polls the status costs one bcrypt a minute. Requests with credentials already being checked
/// for the same address wait for that check's answer instead of queueing a check of their own, so a
/// client opening many connections at once costs one bcrypt and none of its requests is refused.
/// Other addresses are served meanwhile, never behind another address's throttle.
actor BasicAuthenticator {
    let users: UserStore
    /// Attempts from one address that may wait behind the one being checked.
    static let queueLimit = 8

    private var throttle = LoginThrottle()
    private var cache = CredentialCache()
    /// Addresses with a check in progress, and the attempts waiting behind it.
    private var checking: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// Credentials (by HMAC, and the address they came from) being checked, and the requests from
    /// that address waiting for that check's answer.
    private var inFlight: [Data: [CheckedContinuation<Bool, Never>]] = [:]
    private let pool: NIOThreadPool

    init(users: UserStore, threads: Int = 2) {
        self.users = users
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.pool.start()
    }

    deinit {
        self.pool.shutdownGracefully { _ in }
    }

    /// The authenticated user name, or throws `AUTH_REQUIRED` / `AUTH_INVALID_CREDENTIALS`.
    func authenticate(_ request: Request, address: SocketAddress?, logger: Logger) async throws -> String {
        guard let header = request.headers[.authorization] else { throw APIError.authRequired }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic", parts[1].utf8.count <= 4096 else { throw APIError.authRequired }
        guard let decoded = Data(base64Encoded: String(parts[1])).map({ String(decoding: $0, as: UTF8.self) }),
              let colon = decoded.firstIndex(of: ":")
        else { throw APIError.invalidCredentials }
        let name = String(decoded[..<colon])
        let password = String(decoded[decoded.index(after: colon)...])
        let stamp = self.users.stamp()
        if self.cache.contains(user: name, password: password, stamp: stamp) { return name }
        let key = address?.ipAddress ?? "unknown"
        // Shared only with requests from the same address: a check from another address may wait
        // behind that address's throttle, or be refused unchecked, neither of which is this one's.
        let digest = self.cache.digest(name, password) + Data(key.utf8)
        if self.inFlight[digest] != nil {
            // The same credentials are being checked: their answer is this request's answer too.
            let valid = await withCheckedContinuation { self.inFlight[digest, default: []].append($0) }
            guard valid else { throw APIError.invalidCredentials }
            return name
        }
        self.inFlight[digest] = []
        var verified = false
        defer {
            for waiter in self.inFlight.removeValue(forKey: digest) ?? [] { waiter.resume(returning: verified) }
        }

        guard self.enter(key) else {
            // Over the budget: refused without a check, so a burst cannot buy parallel guesses.
            logger.notice("login refused unchecked: too many attempts in flight", metadata: ["address": "\(key)"])
            throw APIError.invalidCredentials
        }
        if self.checking.contains(key) {
            await withCheckedContinuation { self.waiting[key, default: []].append($0) }
        } else {
            self.checking.insert(key)
        }
        defer { self.leave(key) }
        let delay = self.throttle.delay(for: key)
        if delay > .zero { try? await Task.sleep(for: delay) }
        let users = self.users
        let valid = try await self.pool.runIfActive { try users.verify(name, password: password) }
        guard valid else {
            self.throttle.recordFailure(from: key)
            logger.notice("login failed", metadata: ["address": "\(key)", "user": "\(SafeText.escaped(name, limit: 64))"])
            throw APIError.invalidCredentials
        }
        self.throttle.recordSuccess(from: key)
        self.cache.remember(user: name, password: password, stamp: stamp)
        verified = true
        return name
    }

    /// False when `key` already has a check running and `queueLimit` attempts waiting.
    private func enter(_ key: String) -> Bool {
        !self.checking.contains(key) || (self.waiting[key]?.count ?? 0) < Self.queueLimit
    }

    /// Hands the address's turn to the next waiting attempt, or frees it.
    private func leave(_ key: String) {
        if var queue = self.waiting[key], !queue.isEmpty {
            let next = queue.removeFirst()
            self.waiting[key] = queue.isEmpty ? nil : queue
            next.resume()
        } else {
            self.checking.remove(key)
        }
    }
}
