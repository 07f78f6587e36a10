import BackupCore
import Foundation

/// libFuzzer target for what restore reads as JSON from a backup store and from the operator
/// (`make fuzz`): the authenticated index, the plain manifest, the appliance manifest. Any bytes must
/// decode or end in a `BackupError`, never trap. Built without `-DFUZZING` it replays its arguments.
enum IndexFuzz {
    static func check(_ data: Data) {
        let bytes = [UInt8](data)
        _ = try? SealedIndex.decode(bytes, backup: "flowgateway-20261129T051145Z")
        if let plain = try? BackupIndex.decode(bytes, backup: "flowgateway-20261129T051145Z"),
           let sealed = try? SealedIndex.decode(bytes, backup: plain.name) {
            _ = try? sealed.check(agreesWith: plain)
        }
        _ = try? Manifest.decode(data, source: "fuzz")
        _ = SafeText.escaped(bytes: bytes)
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

@_cdecl("index_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        IndexFuzz.check(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
@main
struct IndexFuzzReplay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            IndexFuzz.check(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        print("replayed \(CommandLine.arguments.count - 1) input(s)")
    }
}
#endif
