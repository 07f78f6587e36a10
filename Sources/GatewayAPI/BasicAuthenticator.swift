import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

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
///
/// Guessing from many addresses does not pay either (issue 23): a user name that keeps failing is
/// throttled the same way whatever address it comes from, and no more than `globalQueueLimit`
/// attempts wait in all. An attempt refused without a check is answered 429 `TOO_MANY_REQUESTS` with
/// `Retry-After`, never as a wrong password. On shutdown every waiting attempt is answered 503 at once.
actor BasicAuthenticator {
    let users: UserStore
    /// Attempts from one address that may wait behind the one being checked.
    static let queueLimit = 8
    /// Attempts that may wait, from all addresses together.
    static let globalQueueLimit = 64

    private var throttle = LoginThrottle()
    /// Failures by user name, whatever the address: the delay they earn applies to addresses that
    /// have not logged in as that user before (`known`), so an attacker spreading guesses over many
    /// addresses pays it, and the operator's own address does not.
    private var userThrottle = LoginThrottle()
    /// "address user" pairs that logged in successfully (bounded: cleared past 10,000).
    private var known: Set<String> = []
    private var waitingCount = 0
    private var stopping = false
    /// Credentials verified in the last minute; shared with the status GETs answered on the event loop.
    nonisolated let verified = CredentialCache()
    /// The users file's identity (a credential verified against another version is checked again).
    private nonisolated let usersFile: RecentFileIdentities
    /// Addresses with a check in progress, and the attempts waiting behind it.
    private var checking: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]
    /// Credentials (by HMAC, and the address they came from) being checked, and the requests from
    /// that address waiting for that check's answer.
    private var inFlight: [Data: [CheckedContinuation<Bool, Never>]] = [:]
    private let pool: NIOThreadPool

    init(users: UserStore, threads: Int = 2) {
        self.users = users
        self.usersFile = RecentFileIdentities([users.path])
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.pool.start()
    }

    deinit {
        self.pool.shutdownGracefully { _ in }
    }

    /// The authenticated user name, or throws `AUTH_REQUIRED` / `AUTH_INVALID_CREDENTIALS` (or 429,
    /// 503). A request runs in the HTTP server's task tree, which hears of a shutdown first (the server
    /// stops before the other services): then every attempt still waiting is answered at once, so
    /// that the server's wait for its open requests is short whatever crowd is queued.
    nonisolated func authenticate(_ request: Request, address: SocketAddress?, logger: Logger) async throws -> String {
        // Most requests carry credentials verified a moment ago: answered without the actor's turn.
        if let user = self.recentlyVerifiedUser(request.headers[.authorization], usersFile: self.currentUsersFile()) { return user }
        return try await withGracefulShutdownHandler {
            try await self.check(request, address: address, logger: logger)
        } onGracefulShutdown: {
            Task { await self.shutDown() }
        }
    }

    /// The users file's identity now (at most a millisecond old).
    nonisolated func currentUsersFile() -> FileIdentity? {
        self.usersFile.current()[0]
    }

    /// The user of credentials verified in the last minute against the users file as it is now, or
    /// nil. Takes a lock and a `stat`, never the actor's turn: most requests end here.
    /// `usersFile`: the users file's identity as `currentUsersFile()` says now.
    nonisolated func recentlyVerifiedUser(_ header: String?, usersFile: FileIdentity?) -> String? {
        guard let credentials = try? BasicCredentials.parse(header) else { return nil }
        guard self.verified.contains(user: credentials.user, password: credentials.password, usersFile: usersFile) else { return nil }
        return credentials.user
    }

    private func check(_ request: Request, address: SocketAddress?, logger: Logger) async throws -> String {
        let credentials = try BasicCredentials.parse(request.headers[.authorization])
        let (name, password) = (credentials.user, credentials.password)
        let usersFile = self.usersFile.current()[0]
        if self.verified.contains(user: name, password: password, usersFile: usersFile) { return name }
        let key = address?.ipAddress ?? "unknown"
        // Shared only with requests from the same address: a check from another address may wait
        // behind that address's throttle, or be refused unchecked, neither of which is this one's.
        let digest = self.verified.digest(name, password) + Data(key.utf8)
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

        guard !self.stopping else { throw APIError.shuttingDown }
        guard self.enter(key) else {
            // Over the budget: refused without a check, so a burst cannot buy parallel guesses.
            logger.notice("login refused unchecked: too many attempts in flight", metadata: ["address": "\(SafeText.field(key))"])
            throw APIError.tooManyAttempts(retryAfterSeconds: 1)
        }
        if self.checking.contains(key) {
            self.waitingCount += 1
            await withCheckedContinuation { self.waiting[key, default: []].append($0) }
            self.waitingCount -= 1
        } else {
            self.checking.insert(key)
        }
        defer { self.leave(key) }
        guard !self.stopping else { throw APIError.shuttingDown }
        let pair = key + " " + name
        let delay = max(self.throttle.delay(for: key), self.known.contains(pair) ? .zero : self.userThrottle.delay(for: name))
        if delay > .zero { try? await Task.sleep(for: delay) }
        guard !self.stopping else { throw APIError.shuttingDown }
        let users = self.users
        let valid = try await self.pool.runIfActive { try users.verify(name, password: password) }
        guard valid else {
            self.throttle.recordFailure(from: key)
            self.userThrottle.recordFailure(from: name)
            logger.notice("login failed", metadata: ["address": "\(key)", "user": "\(SafeText.escaped(name, limit: 64))"])
            throw APIError.invalidCredentials
        }
        self.throttle.recordSuccess(from: key)
        self.userThrottle.recordSuccess(from: name)
        if self.known.count >= 10_000 { self.known.removeAll(keepingCapacity: true) }
        self.known.insert(pair)
        self.verified.remember(user: name, password: password, usersFile: usersFile)
        verified = true
        return name
    }

    /// False when `key` already has a check running and `queueLimit` attempts waiting, or
    /// `globalQueueLimit` attempts wait in all.
    private func enter(_ key: String) -> Bool {
        guard self.checking.contains(key) else { return true }
        return (self.waiting[key]?.count ?? 0) < Self.queueLimit && self.waitingCount < Self.globalQueueLimit
    }

    /// For the shutdown: every waiting attempt is answered 503 now, and no new one is checked.
    func shutDown() {
        self.stopping = true
        let queued = self.waiting.values.flatMap { $0 }
        self.waiting.removeAll()
        for waiter in queued { waiter.resume() }
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
