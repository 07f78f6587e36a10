import BackupCore
import BackupModel
import BackupPOSIX
import NIOConcurrencyHelpers
import NIOCore

/// The server's connection slots, shared fairly (issue 23), as nginx's `limit_conn` per address and
/// HAProxy's slots do: at most `perAddress` connections from one address and `perNetwork` from one
/// network (an IPv4 /24, an IPv6 /64), far below the `total`. When every slot is taken, a new
/// connection takes the slot of the oldest connection that has not authenticated a request (a
/// silent socket, or a client polling only the public endpoints); connections that authenticated
/// keep theirs. So no crowd of unauthenticated connections, from one address or many, keeps an
/// operator with valid credentials out.
final class ConnectionSlots: Sendable {
    /// The caps.
    struct Limits: Sendable {
        var total: Int
        var perAddress: Int
        var perNetwork: Int
    }

    /// What became of a new connection.
    enum Admission {
        case admitted
        /// Admitted in the slot of `evicted`, which the caller closes.
        case admittedEvicting(any Channel)
        /// Not admitted: why ("from 127.0.0.1, 32 connections already").
        case refused(String)
    }

    private struct Entry {
        let address: String
        let network: String
        let sequence: UInt64
        let channel: any Channel
        var authenticated = false
    }

    private struct State {
        var entries: [ObjectIdentifier: Entry] = [:]
        var perAddress: [String: Int] = [:]
        var perNetwork: [String: Int] = [:]
        var sequence: UInt64 = 0
    }

    let limits: Limits
    private let state = NIOLockedValueBox(State())

    init(limits: Limits) {
        self.limits = limits
    }

    /// Counts `channel` in, or says why not.
    func admit(_ channel: any Channel) -> Admission {
        let address = Self.address(of: channel.remoteAddress)
        let network = Self.network(of: channel.remoteAddress)
        return self.state.withLockedValue { state -> Admission in
            if state.perAddress[address, default: 0] >= self.limits.perAddress {
                return .refused("\(self.limits.perAddress) connections from this address already")
            }
            if state.perNetwork[network, default: 0] >= self.limits.perNetwork {
                return .refused("\(self.limits.perNetwork) connections from its network \(network) already")
            }
            var evicted: (any Channel)?
            if state.entries.count >= self.limits.total {
                // The oldest connection that has not authenticated gives up its slot.
                guard let (key, victim) = state.entries.filter({ !$0.value.authenticated }).min(by: { $0.value.sequence < $1.value.sequence }) else {
                    return .refused("all \(self.limits.total) connections are authenticated clients'")
                }
                Self.remove(key, victim, from: &state)
                evicted = victim.channel
            }
            state.sequence += 1
            state.entries[ObjectIdentifier(channel)] = Entry(address: address, network: network, sequence: state.sequence, channel: channel)
            state.perAddress[address, default: 0] += 1
            state.perNetwork[network, default: 0] += 1
            return evicted.map { .admittedEvicting($0) } ?? .admitted
        }
    }

    /// Counts `channel` out (it closed, or was evicted already: then nothing happens).
    func remove(_ channel: any Channel) {
        self.state.withLockedValue { state in
            let key = ObjectIdentifier(channel)
            if let entry = state.entries[key] { Self.remove(key, entry, from: &state) }
        }
    }

    /// `channel` carried a request that authenticated: it keeps its slot when slots run short.
    func markAuthenticated(_ channel: any Channel) {
        self.state.withLockedValue { state in
            state.entries[ObjectIdentifier(channel)]?.authenticated = true
        }
    }

    /// Open connections counted in.
    var count: Int { self.state.withLockedValue { $0.entries.count } }

    private static func remove(_ key: ObjectIdentifier, _ entry: Entry, from state: inout State) {
        state.entries[key] = nil
        Self.decrement(&state.perAddress, entry.address)
        Self.decrement(&state.perNetwork, entry.network)
    }

    private static func decrement(_ counts: inout [String: Int], _ key: String) {
        let left = (counts[key] ?? 1) - 1
        counts[key] = left > 0 ? left : nil
    }

    /// The address as text ("unknown" without one).
    static func address(of socket: SocketAddress?) -> String {
        socket?.ipAddress ?? "unknown"
    }

    /// The address's network: its IPv4 /24 or IPv6 /64.
    static func network(of socket: SocketAddress?) -> String {
        guard let socket, let text = socket.ipAddress else { return "unknown" }
        switch socket {
        case .v4:
            let octets = text.split(separator: ".")
            return octets.count == 4 ? octets.prefix(3).joined(separator: ".") + ".0/24" : text
        case .v6(let address):
            var raw = address.address.sin6_addr
            let bytes = withUnsafeBytes(of: &raw) { Array($0.prefix(8)) }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        default:
            return text
        }
    }
}
