import BackupModel
import BackupPOSIX
import Foundation

/// What one component's task of a job that works on several at once hands back: which component
/// (its position in the job's list) and how it went.
struct ComponentOutcome<Value: Sendable>: Sendable {
    var position: Int
    var result: Result<Value, BackupError>
}

/// Runs one task per component, at most `width` at once, started in the job's order.
enum ComponentTasks {
    /// Runs `work(position, finishedBefore)` for positions `0..<count`, started in `order` (a
    /// permutation of the positions; by default `0..<count`); `finishedBefore` is how many had
    /// finished when it started, for progress reports. A position starts only while `mayStart()`
    /// holds (a failure or a cancellation stops further starts; tasks under way run to their end);
    /// `started` and `finished` run on the caller's task, one at a time, so they may update the
    /// job's record and save it.
    static func run<Value: Sendable>(
        count: Int, width: Int, order: [Int]? = nil,
        mayStart: () -> Bool,
        started: (Int) -> Void,
        work: @escaping @Sendable (_ position: Int, _ finishedBefore: Int) async -> Result<Value, BackupError>,
        finished: (Int, Result<Value, BackupError>) -> Void
    ) async {
        let order = order ?? Array(0..<count)
        await withTaskGroup(of: ComponentOutcome<Value>.self) { group in
            var next = 0
            var running = 0
            var finishedCount = 0
            while true {
                while running < width, next < order.count, mayStart() {
                    let position = order[next]
                    next += 1
                    running += 1
                    started(position)
                    let finishedBefore = finishedCount
                    group.addTask { ComponentOutcome(position: position, result: await work(position, finishedBefore)) }
                }
                guard let outcome = await group.next() else { break }
                running -= 1
                finishedCount += 1
                finished(outcome.position, outcome.result)
            }
        }
    }

    /// How many run at once: `jobs` (nil: one per core), at least 1, at most `count`.
    static func width(_ jobs: Int?, count: Int) -> Int {
        max(1, min(jobs ?? ProcessInfo.processInfo.activeProcessorCount, count))
    }

    /// The positions with the largest first (ties and unknown sizes in their own order, unknown
    /// last): started so, the longest component does not begin last and leave one core idle.
    static func largestFirst(_ sizes: [UInt64?]) -> [Int] {
        sizes.indices.sorted { left, right in
            switch (sizes[left], sizes[right]) {
            case let (a?, b?): return a != b ? a > b : left < right
            case (_?, nil): return true
            case (nil, _?): return false
            case (nil, nil): return left < right
            }
        }
    }
}
