import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Answers the status GETs a client polls, `GET …/1.0/backup` and `…/1.0/restore`, on the event loop
/// that read them, when both halves of the answer are at hand: credentials verified in the last
/// minute against the users file as it is (`CredentialCache`), and a status answer still right
/// (`StatusResponseCache.kept`). Anything else (a first login, a changed status, a query, a body,
/// `Connection: close`, every other route) goes on to the router as before.
///
/// Why (issue 23): through the router a request crosses from the event loop to Swift's cooperative
/// threads and back, and on two cores, with a backup's threads and 200 clients' worth of TLS, those
/// hops and the async machinery around them were most of its latency. This is what nginx does for
/// every request: answer where it was read. The answer is the router's, byte for byte but for the
/// `Date`: the same body, `Content-Type`, `Content-Length` and `Server`; and the request is logged
/// the same way (`APIResponder.logAnswer`), with a request id of its own.
///
/// It sits after Hummingbird's connection state handler (which keeps the idle timeout and counts
/// requests, so it must see these too) and before the async channel; NIO's pipelining handler in
/// front lets one request through at a time, so an answer from here never overtakes another.
final class StatusFastPath: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    /// What the handlers of every connection share.
    struct Shared: Sendable {
        let authenticator: BasicAuthenticator
        let statusAnswers: StatusResponseCache
        let slots: ConnectionSlots
        let logger: Logger
        let serverName: String
        /// How many requests were answered here.
        let answered: AnswerCount
    }

    /// A count of the requests answered here (tests tell the two ways apart by it).
    final class AnswerCount: Sendable {
        private let value = Atomic<Int>(0)

        func add() { self.value.add(1, ordering: .relaxed) }
        var current: Int { self.value.load(ordering: .relaxed) }
    }

    /// The status paths answered here, and the name of their kept answer (the paths are plain
    /// ASCII without spaces or quotes: `SafeText.field` leaves them as they are).
    static let answered: [String: String] = ["/api/mgmt.gateway_backup/1.0/backup": "backup", "/api/mgmt.gateway_backup/1.0/restore": "restore"]

    private let shared: Shared
    /// A request head kept back, with the answer it gets once its end arrives.
    private var pending: (head: HTTPRequest, path: String, body: ByteBuffer)?
    /// The credentials this connection's client last sent that were verified, as a hash with this
    /// process's random seed (no password is kept), and what they were verified against: a client
    /// polling on one connection sends the same header every time, and comparing it costs less than
    /// the shared cache's HMAC. Only this connection's client (behind TLS) sends on it.
    private var verifiedHere: (header: Int, usersFile: FileIdentity?, until: ContinuousClock.Instant)?
    /// Whether this connection's slot is marked authenticated already (once is enough).
    private var markedAuthenticated = false
    /// The `Date` header's text, and the second it was made for.
    private var date: (second: Int, text: String) = (-1, "")

    init(_ shared: Shared) {
        self.shared = shared
    }

    /// Adds a handler after the connection state handler of `pipeline` (which Hummingbird adds after
    /// `ConnectionGuard`). Call it on the pipeline's event loop, after the channel's setup; a
    /// request that arrives before it just takes the router's way.
    static func install(_ shared: Shared, in pipeline: ChannelPipeline) {
        guard let state = try? pipeline.syncOperations.handler(type: HTTPConnectionStateHandler.self) else { return }
        try? pipeline.syncOperations.addHandler(StatusFastPath(shared), position: .after(state))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            if let (path, body) = self.answer(for: head, channel: context.channel) {
                self.pending = (head, path, body)
                return
            }
        case .body:
            // Not expected (no body was declared), but then the router answers it, whole.
            if let (head, _, _) = self.pending {
                self.pending = nil
                context.fireChannelRead(self.wrapInboundOut(.head(head)))
            }
        case .end:
            if let (head, path, body) = self.pending {
                self.pending = nil
                self.write(body, for: head, path: path, context: context)
                return
            }
        }
        context.fireChannelRead(data)
    }

    /// The path and kept answer for `head`, or nil when the router must answer it.
    private func answer(for head: HTTPRequest, channel: any Channel) -> (String, ByteBuffer)? {
        guard head.method == .get, let path = head.path, let name = Self.answered[path] else { return nil }
        let fields = head.headerFields
        guard fields[.contentLength] == nil || fields[.contentLength] == "0", fields[.transferEncoding] == nil else { return nil }
        if let connection = fields[.connection], connection.lowercased() != "keep-alive" { return nil }
        guard let authorization = fields[.authorization], self.verified(authorization),
              let body = self.shared.statusAnswers.kept(name)
        else { return nil }
        if !self.markedAuthenticated {
            self.markedAuthenticated = true
            self.shared.slots.markAuthenticated(channel)
        }
        return (path, body)
    }

    /// Whether `authorization` holds credentials verified in the last minute against the users file
    /// as it is now: the same header as this connection's last verified one, or one in the cache.
    private func verified(_ authorization: String) -> Bool {
        let now = ContinuousClock.now
        let usersFile = self.shared.authenticator.currentUsersFile()
        let header = authorization.hashValue
        if let memo = self.verifiedHere, memo.header == header, memo.usersFile == usersFile, now < memo.until { return true }
        guard self.shared.authenticator.recentlyVerifiedUser(authorization, usersFile: usersFile) != nil else { return false }
        // For a minute, as long as the shared cache keeps an entry; a changed users file ends it sooner.
        self.verifiedHere = (header, usersFile, now + CredentialCache.lifetime)
        return true
    }

    private func write(_ body: ByteBuffer, for head: HTTPRequest, path: String, context: ChannelHandlerContext) {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.readableBytes)
        let second = time(nil)
        if second != self.date.second { self.date = (second, HTTPDate.text(for: second)) }
        fields[.date] = self.date.text
        fields[.server] = self.shared.serverName
        context.write(self.wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: fields))), promise: nil)
        context.write(self.wrapOutboundOut(.body(body)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        self.shared.answered.add()
        // The request id as the router's requests have it, without copying the logger's metadata.
        APIResponder.logAnswer(method: head.method, escapedPath: path, status: 200, logger: self.shared.logger, requestID: RequestID())
    }
}

/// The `Date` header's text (RFC 9110's IMF-fixdate).
enum HTTPDate {
    static func text(for second: Int) -> String {
        var clock = second
        var parts = tm()
        gmtime_r(&clock, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
