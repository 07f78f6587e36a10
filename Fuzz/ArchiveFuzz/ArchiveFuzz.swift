import BackupArchive
import BackupCore
import Foundation

/// libFuzzer target for the tar reader (`make fuzz`): any bytes, as a decrypted component would
/// give them, must end in a summary or a `BackupError`, never a trap, a hang or unbounded memory.
/// Built without `-DFUZZING` it replays the files given as arguments (the seed corpus, regressions).
enum ArchiveFuzz {
    static func check(_ data: Data) {
        _ = try? TarArchive().validate(from: MemoryByteSource(data), limits: ArchiveLimits(entries: 10_000, contentBytes: 64 << 20))
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArchive(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    ArchiveFuzz.check(Data(bytes: bytes, count: count))
    return 0
}
#else
@main
struct ArchiveFuzzReplay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            ArchiveFuzz.check(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        print("replayed \(CommandLine.arguments.count - 1) input(s)")
    }
}
#endif
