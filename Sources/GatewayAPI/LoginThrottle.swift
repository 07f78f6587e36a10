/// How long to hold back an answer to an address that keeps sending wrong credentials: 250 ms
/// more per failure in a row, at most 5 s; a success forgets the address.
///
/// The table is bounded: past `capacity` addresses it is cleared rather than grown, so a client
/// cycling through many addresses cannot exhaust memory (it only loses its own delays).
struct LoginThrottle: Sendable {
    static let step: Duration = .milliseconds(250)
    static let maximum: Duration = .seconds(5)

    let capacity: Int
    private var failures: [String: Int] = [:]

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The delay before checking credentials from `address`.
    func delay(for address: String) -> Duration {
        min(Self.maximum, Self.step * (self.failures[address] ?? 0))
    }

    mutating func recordFailure(from address: String) {
        if self.failures[address] == nil && self.failures.count >= self.capacity {
            self.failures.removeAll(keepingCapacity: true)
        }
        self.failures[address, default: 0] += 1
    }

    mutating func recordSuccess(from address: String) {
        self.failures[address] = nil
    }

    /// Addresses with failures on record.
    var trackedAddresses: Int { self.failures.count }
}
