import Foundation
import FuzzSupport
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
@_cdecl("request_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzDriver.run(argc, argv, RequestFuzz.check)
}
#else
@main
struct RequestFuzzReplay {
    static func main() throws {
        try FuzzDriver.replay(RequestFuzz.check)
    }
}
#endif
