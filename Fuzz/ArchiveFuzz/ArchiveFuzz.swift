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
/// libFuzzer's driver, for a program that has its own `main` (SwiftPM names an executable's entry
/// point `<module>_main`): `make fuzz` links libFuzzer with `-sanitize=fuzzer`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("archive_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        ArchiveFuzz.check(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
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
