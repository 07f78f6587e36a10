import Synchronization

/// Counts the writes this process makes to the status and schedule files of its state directories,
/// so that whoever derives something from them (the API's status answers) can keep it until the next
/// write instead of reading and decoding the files again for every request.
public enum StateGeneration {
    private static let counter = Atomic<Int>(0)

    /// Changes after every write of a status or schedule file by this process.
    public static var current: Int { Self.counter.load(ordering: .acquiring) }

    /// Called after each such write.
    static func advance() { Self.counter.add(1, ordering: .releasing) }
}
