import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Synchronization
import Testing
import Glibc

/// A pipe whose read end the test holds and reads only when it says so.
final class HeldPipe: Sendable {
    let readEnd: Int32
    let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw POSIXError(.EIO) }
        self.readEnd = ends[0]
        self.writeEnd = ends[1]
        // Reads never wait: the test polls with a deadline instead.
        _ = fcntl(self.readEnd, F_SETFL, fcntl(self.readEnd, F_GETFL) | O_NONBLOCK)
    }

    /// Reads until `done` holds for what was read, or `seconds` pass.
    func read(until done: (String) -> Bool, seconds: Double = 20) async throws -> String {
        try await GatewayBackupTestSupport.read(from: self.readEnd, until: done, seconds: seconds)
    }

    func closeReadEnd() { close(self.readEnd) }
}

@Suite("Log lines written by a thread of their own")
struct LogLineWriterTests {
    @Test func linesArriveWholeAndInOrder() async throws {
        let pipe = try HeldPipe()
        let writer = LogLineWriter(fileDescriptor: pipe.writeEnd)
        let lines = (0..<2000).map { "line \($0) \(String(repeating: "x", count: $0 % 97))\n" }
        // Read while writing: 2,000 lines are more than a pipe holds.
        async let read = pipe.read(until: { $0.hasSuffix(lines.last!) })
        for line in lines { writer.write(line) }
        #expect(try await read == lines.joined())
        #expect(writer.drain(timeout: .seconds(10)))
        #expect(writer.droppedLines == 0)
    }

    @Test func anOutputThatStopsDrainingNeverHoldsTheCallerAndTheLossIsCountedAndReported() async throws {
        let pipe = try HeldPipe()
        // The pipe is full before the writer starts, so its first write waits until the test reads.
        let filler = Array(String(repeating: "f", count: 99).utf8) + [UInt8(ascii: "\n")]
        _ = fcntl(pipe.writeEnd, F_SETFL, fcntl(pipe.writeEnd, F_GETFL) | O_NONBLOCK)
        while Glibc.write(pipe.writeEnd, filler, filler.count) == filler.count {}
        _ = fcntl(pipe.writeEnd, F_SETFL, fcntl(pipe.writeEnd, F_GETFL) & ~O_NONBLOCK)
        let writer = LogLineWriter(fileDescriptor: pipe.writeEnd, capacity: 8192)
        // Nobody reads: 8 KiB of queue take ~80 lines (and the write waiting ~80 more); the rest must be
        // dropped, not waited for (a caller that waited would hang this test).
        let line = String(repeating: "a", count: 99) + "\n"
        let finished = Mutex(false)
        Thread {
            for _ in 0..<2000 { writer.write(line) }
            finished.withLock { $0 = true }
        }.start()
        let deadline = Date().addingTimeInterval(20)
        while !finished.withLock({ $0 }) && Date() < deadline { try await Task.sleep(for: .milliseconds(10)) }
        #expect(finished.withLock { $0 }, "2,000 writes into a stalled output returned")
        let dropped = writer.droppedLines
        #expect(dropped >= 2000 - 2 * 8192 / 100, "200 KB written into 16 KiB of room")
        #expect(!writer.drain(timeout: .milliseconds(200)), "the output is stalled: drain says it did not finish")
        // The output drains again: what was queued arrives, then the report of what was lost.
        // One report, or two if the writer took its first line after some were already dropped.
        func reported(_ text: String) -> [Int] {
            text.split(separator: "\n").filter { $0.contains("lines were dropped") }.compactMap { report in
                report.split(separator: " ").first { $0.hasPrefix("dropped=") }.flatMap { Int($0.dropFirst(8)) }
            }
        }
        let text = try await pipe.read(until: { reported($0).reduce(0, +) >= dropped && $0.hasSuffix("\n") })
        let lines = text.split(separator: "\n").filter { !$0.hasPrefix("f") }
        let reports = lines.filter { $0.contains("lines were dropped") }
        #expect((1...2).contains(reports.count) && reports.allSatisfy { $0.contains(" warning gwbackup: dropped=") }, "\(reports)")
        #expect(reported(text).reduce(0, +) == dropped, "the reports add up to the count: \(reports)")
        let kept = lines.filter { !$0.contains("lines were dropped") }
        #expect(kept.allSatisfy { $0 == line.dropLast() }, "whole lines only")
        #expect(kept.count + dropped == 2000, "every line is either written or counted")
        #expect(writer.drain(timeout: .seconds(10)))
        // And it goes on writing.
        writer.write("after\n")
        #expect(try await pipe.read(until: { $0 == "after\n" }) == "after\n")
    }

    @Test func aNonBlockingOutputThatIsFullIsWaitedForNotGivenUp() async throws {
        let pipe = try HeldPipe()
        // Someone made the output non-blocking (a shared terminal, a parent's choice) and it is full:
        // the writer's writes fail with EAGAIN until the test reads.
        _ = fcntl(pipe.writeEnd, F_SETFL, fcntl(pipe.writeEnd, F_GETFL) | O_NONBLOCK)
        let filler = Array(String(repeating: "f", count: 99).utf8) + [UInt8(ascii: "\n")]
        while Glibc.write(pipe.writeEnd, filler, filler.count) == filler.count {}
        let writer = LogLineWriter(fileDescriptor: pipe.writeEnd)
        let lines = (0..<500).map { "line \($0)\n" }
        for line in lines { writer.write(line) }
        #expect(!writer.drain(timeout: .milliseconds(200)), "the full output holds the lines")
        let text = try await pipe.read(until: { $0.hasSuffix(lines.last!) })
        #expect(text.split(separator: "\n").filter { !$0.hasPrefix("f") }.map { "\($0)\n" } == lines, "every line, in order")
        #expect(writer.drain(timeout: .seconds(10)))
        #expect(writer.droppedLines == 0)
    }

    @Test func anOutputThatIsGoneEndsItsWritesWithoutEndingTheProcess() async throws {
        let pipe = try HeldPipe()
        let writer = LogLineWriter(fileDescriptor: pipe.writeEnd)
        pipe.closeReadEnd()
        // EPIPE, not SIGPIPE: the writer gives the lines up and this process goes on.
        for index in 0..<100 { writer.write("line \(index)\n") }
        #expect(writer.drain(timeout: .seconds(10)))
        writer.write("more\n")
        #expect(writer.drain(timeout: .seconds(10)))
    }
}
