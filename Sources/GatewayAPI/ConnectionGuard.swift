import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Bounds what one connection can hold: each must send a complete request head within
/// `headTimeout` of its start (which includes the TLS handshake) or of the previous answer, so a
/// client that trickles one byte a second, or never starts TLS, is cut off; and no more than
/// `limit` connections stay open at once (one more is closed as soon as it is accepted), so a flood
/// of idle sockets cannot exhaust descriptors or memory. Idle keep-alive connections are closed by
/// Hummingbird's idle timeout.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Open connections, shared by every guard of one server.
    final class Counter: Sendable {
        private let open = NIOLockedValueBox(0)
        /// Counts a connection in; false (and not counted) when `limit` are open already.
        func enter(limit: Int) -> Bool {
            self.open.withLockedValue { count in
                guard count < limit else { return false }
                count += 1
                return true
            }
        }
        func leave() { self.open.withLockedValue { $0 -= 1 } }
        var current: Int { self.open.withLockedValue { $0 } }
    }

    private let headTimeout: TimeAmount
    private let limit: Int
    private let counter: Counter
    private var counted = false
    private var timer: Scheduled<Void>?

    init(headTimeout: TimeAmount, limit: Int, counter: Counter) {
        self.headTimeout = headTimeout
        self.limit = limit
        self.counter = counter
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard self.counter.enter(limit: self.limit) else {
            // Not while the pipeline is being set up: on the next turn of the event loop.
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.eventLoop.execute { bound.value.close(promise: nil) }
            return
        }
        self.counted = true
        self.startTimer(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        if self.counted {
            self.counted = false
            self.counter.leave()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) {
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
        self.timer = context.eventLoop.scheduleTask(in: self.headTimeout) {
            bound.value.close(promise: nil)
        }
    }
}
