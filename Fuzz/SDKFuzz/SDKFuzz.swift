import Foundation
import FuzzSupport
import GatewayPluginSDK

/// libFuzzer target for the C plugin SDK's request parsing (`make fuzz`): any bytes must end in a
/// request or an error text, never crash; a parsed request's fields must be what a plugin may rely
/// on (known action, absolute paths, an object of parameters). Built without `-DFUZZING` it replays
/// its arguments.
enum SDKFuzz {
    static func check(_ data: Data) {
        var error = [CChar](repeating: 0, count: 1024)
        let request = data.withUnsafeBytes { bytes in
            gwb_parse_request(bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, &error, error.count)
        }
        guard let request else {
            precondition(error[0] != 0, "a refused request must say why")
            return
        }
        defer { gwb_free_request(request) }
        let action = String(cString: gwb_action_name(request))
        precondition(["collect", "verify", "restore"].contains(action))
        precondition(String(cString: gwb_root(request)).hasPrefix("/") && String(cString: gwb_staging(request)).hasPrefix("/"))
        precondition(gwb_parameters(request) != nil)
        _ = gwb_path_problem(gwb_component(request))
    }
}

#if FUZZING
@_cdecl("sdk_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzDriver.run(argc, argv, SDKFuzz.check)
}
#else
@main
struct SDKFuzzReplay {
    static func main() throws {
        try FuzzDriver.replay(SDKFuzz.check)
    }
}
#endif
