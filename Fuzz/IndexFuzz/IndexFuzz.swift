import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import FuzzSupport

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
@_cdecl("index_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzDriver.run(argc, argv, IndexFuzz.check)
}
#else
@main
struct IndexFuzzReplay {
    static func main() throws {
        try FuzzDriver.replay(IndexFuzz.check)
    }
}
#endif
