import Foundation
import FuzzSupport
import GatewayWire

/// libFuzzer target for the API's request bodies (`make fuzz`): `POST …/backup` and `…/restore`.
/// Any bytes must end in a body or a `WireRequestError`, never trap; a parsed body must encode and
/// parse again to the same fields. Built without `-DFUZZING` it replays
/// its arguments.
enum RequestFuzz {
    static func check(_ data: Data) {
        guard let request = try? WireJobRequest.parse(data) else { return }
        guard let encoded = try? JSONEncoder().encode(request), let again = try? WireJobRequest.parse(encoded) else {
            fatalError("a parsed request does not survive encoding and parsing again")
        }
        precondition(again.hostname == request.hostname && again.runID == request.runID && again.noCert == request.noCert && again.port == request.port)
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
