import BackupArchive
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import FuzzSupport

/// libFuzzer target for the tar reader (`make fuzz`): any bytes, as a decrypted component would
/// give them, must end in a summary or a `BackupError`, never a trap, a hang or unbounded memory.
/// Built without `-DFUZZING` it replays the files given as arguments (the seed corpus, regressions).
enum ArchiveFuzz {
    static func check(_ data: Data) {
        _ = try? TarArchive().validate(from: MemoryByteSource(data), limits: ArchiveLimits(entries: 10_000, contentBytes: 64 << 20))
    }
}

#if FUZZING
@_cdecl("archive_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzDriver.run(argc, argv, ArchiveFuzz.check)
}
#else
@main
struct ArchiveFuzzReplay {
    static func main() throws {
        try FuzzDriver.replay(ArchiveFuzz.check)
    }
}
#endif
