import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Bounds what one connection can hold: each must send a complete request head within
/// `headTimeout` of its start (which includes the TLS handshake) or of the previous answer, so a
/// client that trickles one byte a second, or never starts TLS, is cut off; and it gets a slot only
/// as `ConnectionSlots` shares them (per address, per network, unauthenticated ones first to go), so
/// a flood of idle sockets can neither exhaust descriptors nor keep an operator out. Refusals and
/// drops are logged through `RefusalLog`. Idle keep-alive connections are closed by Hummingbird's
/// idle timeout.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headTimeout: TimeAmount
    private let slots: ConnectionSlots
    private let refusals: RefusalLog
    /// Installed on each admitted connection: the status GETs answered on the event loop.
    private let fastPath: StatusFastPath.Shared?
    private var counted = false
    /// Whether a request head came on this connection (a timeout after an answer is keep-alive's).
    private var sawHead = false
    private var timer: Scheduled<Void>?

    init(headTimeout: TimeAmount, slots: ConnectionSlots, refusals: RefusalLog, fastPath: StatusFastPath.Shared? = nil) {
        self.headTimeout = headTimeout
        self.slots = slots
        self.refusals = refusals
        self.fastPath = fastPath
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let address = ConnectionSlots.address(of: context.channel.remoteAddress)
        switch self.slots.admit(context.channel) {
        case .refused(let reason):
            self.refusals.note("connection refused", address: address, detail: reason)
            // Not while the pipeline is being set up: on the next turn of the event loop.
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.close(promise: nil) }
            return
        case .admittedEvicting(let evicted):
            self.refusals.note("connection closed for a newer one", address: ConnectionSlots.address(of: evicted.remoteAddress), detail: "all \(self.slots.limits.total) slots taken; it had not authenticated")
            evicted.close(promise: nil)
        case .admitted:
            break
        }
        self.counted = true
        self.startTimer(context)
        if let fastPath = self.fastPath {
            // Hummingbird adds its connection state handler after this one, in the same turn.
            let pipeline = context.pipeline
            context.eventLoop.execute { StatusFastPath.install(fastPath, in: pipeline) }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        if self.counted {
            self.counted = false
            self.slots.remove(context.channel)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) {
            self.sawHead = true
            self.timer?.cancel()
            self.timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = self.unwrapOutboundIn(data) {
            // The answer is out: the next request head has the same time to arrive.
            self.startTimer(context)
        }
        context.write(data, promise: promise)
    }

    /// A request HTTP cannot parse (smuggling attempts, oversized headers, garbage) still gets the
    /// documented error envelope, then the connection closes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        let text = "the request is not valid HTTP/1.1 (\(parserError))"
        self.refusals.note("request refused", address: ConnectionSlots.address(of: context.channel.remoteAddress), detail: text)
        let body = #"{"error_id":"BAD_REQUEST","error_text":"\#(text.replacingOccurrences(of: "\"", with: "'"))"}"#
        let head = HTTPResponse(status: .badRequest, headerFields: [.contentType: "application/json", .contentLength: "\(body.utf8.count)", .connection: "close"])
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(context.channel.allocator.buffer(string: body))), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        self.timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let (refusals, seconds, first) = (self.refusals, self.headTimeout.nanoseconds / 1_000_000_000, !self.sawHead)
        self.timer = context.eventLoop.scheduleTask(in: self.headTimeout) {
            if first { refusals.note("connection closed", address: ConnectionSlots.address(of: bound.value.channel.remoteAddress), detail: "no request head within \(seconds) s") }
            bound.value.close(promise: nil)
        }
    }
}
