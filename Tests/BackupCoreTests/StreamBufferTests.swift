import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Stream buffers")
struct StreamBufferTests {
    /// Bytes 0, 1, 2, … of `count`, so any reordering or loss shows.
    func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
    }

    @Test(arguments: [1, 7, 999, 1000, 1001, 4096])
    func writesOfAnySizeArriveWholeAndInOrder(chunk: Int) throws {
        let data = self.pattern(50_000)
        let memory = MemorySink()
        let sink = WriteBehindSink(memory, capacity: 1000)
        var offset = 0
        while offset < data.count {
            let end = min(offset + chunk, data.count)
            try data[offset..<end].withUnsafeBytes { try sink.write($0) }
            offset = end
        }
        #expect(memory.data.count <= data.count, "nothing invented")
        try sink.writeZeros(1500)
        try sink.finish()
        #expect(Array(memory.data) == data + [UInt8](repeating: 0, count: 1500))
    }

    @Test func bytesAreHeldUntilAFlushWhichDoesNotFinishTheSink() throws {
        let memory = MemorySink()
        let sink = WriteBehindSink(memory, capacity: 1000)
        try [UInt8]([1, 2, 3]).withUnsafeBytes { try sink.write($0) }
        #expect(memory.data.isEmpty, "held until a flush")
        try sink.flush()
        #expect(Array(memory.data) == [1, 2, 3])
        try [UInt8]([4]).withUnsafeBytes { try sink.write($0) }
        try sink.finish()
        #expect(Array(memory.data) == [1, 2, 3, 4])
    }

    @Test(arguments: [1, 500, 1000, 3000])
    func readsOfAnySizeReturnEverythingInOrder(chunk: Int) throws {
        let data = self.pattern(50_000)
        let source = ReadAheadSource(MemorySource(Data(data)), capacity: 1000)
        var read: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: chunk)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            if count == 0 { break }
            read += buffer[0..<count]
        }
        #expect(read == data)
    }

    @Test func aFailingSinkFailsTheFlush() throws {
        final class FullDisk: ByteSink {
            func write(_ bytes: UnsafeRawBufferPointer) throws { throw BackupError(.storage, "no space left on device") }
            func finish() throws {}
        }
        let sink = WriteBehindSink(FullDisk(), capacity: 100)
        try [UInt8](repeating: 1, count: 50).withUnsafeBytes { try sink.write($0) }
        #expect(throws: BackupError.self) { try [UInt8](repeating: 1, count: 80).withUnsafeBytes { try sink.write($0) } }
        #expect(throws: BackupError.self) { try sink.finish() }
    }
}
