import Hummingbird
import Logging
import NIOCore

/// The request context: Hummingbird's core storage plus the client address (for the failed-login
/// delay) and the connection (an authenticated request keeps its slot, `ConnectionSlots`).
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
        self.channel = source.channel
    }
}
