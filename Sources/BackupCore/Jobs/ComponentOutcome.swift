/// What one component's task of a job that works on several at once hands back: which component
/// (its position in the job's list) and how it went.
struct ComponentOutcome<Value: Sendable>: Sendable {
    var position: Int
    var result: Result<Value, BackupError>
}

/// Runs one task per component, at most `width` at once, started in the job's order.
enum ComponentTasks {
    /// Runs `work` for positions `0..<count`. A position starts only while `mayStart()` holds (a
    /// failure or a cancellation stops further starts; tasks under way run to their end);
    /// `started` and `finished` run on the caller's task, one at a time, so they may update the
    /// job's record and save it.
    static func run<Value: Sendable>(
        count: Int, width: Int,
        mayStart: () -> Bool,
        started: (Int) -> Void,
        work: @escaping @Sendable (Int) async -> Result<Value, BackupError>,
        finished: (Int, Result<Value, BackupError>) -> Void
    ) async {
        await withTaskGroup(of: ComponentOutcome<Value>.self) { group in
            var next = 0
            var running = 0
            while true {
                while running < width, next < count, mayStart() {
                    let position = next
                    next += 1
                    running += 1
                    started(position)
                    group.addTask { ComponentOutcome(position: position, result: await work(position)) }
                }
                guard let outcome = await group.next() else { break }
                running -= 1
                finished(outcome.position, outcome.result)
            }
        }
    }
}
