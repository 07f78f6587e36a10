@testable import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Testing

/// The order and bound of a job's component tasks, without processes or timing.
@Suite("Component tasks")
struct ComponentTasksTests {
    @Test func theLargestStartFirstAndUnknownSizesLastInTheirOwnOrder() {
        #expect(ComponentTasks.largestFirst([10, 300, nil, 300, 5, nil]) == [1, 3, 0, 4, 2, 5])
        #expect(ComponentTasks.largestFirst([nil, nil, nil]) == [0, 1, 2])
        #expect(ComponentTasks.largestFirst([]) == [])
    }

    @Test func theWidthIsTheJobsOrOnePerCoreBetweenOneAndTheCount() {
        #expect(ComponentTasks.width(3, count: 5) == 3)
        #expect(ComponentTasks.width(9, count: 5) == 5)
        #expect(ComponentTasks.width(0, count: 5) == 1)
        #expect(ComponentTasks.width(nil, count: 64) == min(64, ProcessInfo.processInfo.activeProcessorCount))
        #expect(ComponentTasks.width(nil, count: 0) == 1)
    }

    @Test func tasksStartInTheGivenOrderNeverMoreThanTheWidthAndAllFinish() async {
        let order = [3, 0, 4, 1, 2]
        var starts: [Int] = []
        var finishes: [Int] = []
        var running = 0
        var most = 0
        await ComponentTasks.run(
            count: 5, width: 2, order: order,
            mayStart: { true },
            started: { position in
                starts.append(position)
                running += 1
                most = max(most, running)
            },
            work: { position, _ in .success(position * 10) },
            finished: { position, result in
                running -= 1
                finishes.append(position)
                #expect((try? result.get()) == position * 10)
            })
        #expect(starts == order)
        #expect(most == 2)
        #expect(finishes.sorted() == [0, 1, 2, 3, 4])
    }

    @Test func noTaskStartsOnceMayStartSaysNo() async {
        var starts: [Int] = []
        var stop = false
        await ComponentTasks.run(
            count: 6, width: 1,
            mayStart: { !stop },
            started: { starts.append($0) },
            work: { position, _ in position == 1 ? .failure(BackupError(.pluginFailed, "no")) : .success(()) },
            finished: { _, result in
                if case .failure = result { stop = true }
            })
        #expect(starts == [0, 1])
    }

    @Test func eachTaskIsToldHowManyHadFinishedWhenItStarted() async {
        var seen: [Int: Int] = [:]
        await ComponentTasks.run(
            count: 3, width: 1, order: [2, 0, 1],
            mayStart: { true },
            started: { _ in },
            work: { _, finishedBefore in .success(finishedBefore) },
            finished: { position, result in seen[position] = try? result.get() })
        #expect(seen == [2: 0, 0: 1, 1: 2])
    }
}
