import Foundation
import GatewayAPI

/// libFuzzer target for the API's request bodies (`make fuzz`): `POST …/backup` and `…/restore`.
/// Any bytes must end in a body or an `APIError`, never trap. Built without `-DFUZZING` it replays
/// its arguments.
enum RequestFuzz {
    static func check(_ data: Data) {
        _ = try? JobRequestBody.parse(data, restore: false)
        _ = try? JobRequestBody.parse(data, restore: true)
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

@_cdecl("request_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        RequestFuzz.check(bytes.map { Data(bytes: $0, count: size) } ?? Data())
        return 0
    }
}
#else
@main
struct RequestFuzzReplay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            RequestFuzz.check(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        print("replayed \(CommandLine.arguments.count - 1) input(s)")
    }
}
#endif
