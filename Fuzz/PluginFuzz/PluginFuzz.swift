import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import FuzzSupport

/// libFuzzer target for what a plugin hands gwbackup (`make fuzz`): its `plugin.json` and its reply
/// on stdout (with the same bytes as its stderr). Any bytes must end in a value or a `BackupError`,
/// never trap. Built without `-DFUZZING` it replays its arguments.
enum PluginFuzz {
    static let plugin: ExternalPlugin? = (try? ExternalPluginDescriptor.decode(Data(#"{"id":"fuzz","version":"1","protocol":1,"executable":"run"}"#.utf8)))
        .map { ExternalPlugin(descriptor: $0, directory: "/nonexistent", launcher: NoLauncher()) }

    /// Replies are interpreted, never produced: nothing is run.
    struct NoLauncher: ProcessLauncher {
        func run(_ request: ProcessRequest, input: Data) throws -> ProcessOutcome { throw BackupError(.pluginFailed, "not run while fuzzing") }
        var seesLeftovers: Bool { false }
    }

    static func check(_ data: Data) {
        if let descriptor = try? ExternalPluginDescriptor.decode(data) {
            _ = try? descriptor.check(directory: "/nonexistent")
        }
        for (status, signalled) in [(Int32(0), false), (Int32(3), false), (Int32(9), true)] {
            _ = try? Self.plugin?.interpret(
                ProcessOutcome(status: status, signalled: signalled, timedOut: false, cancelled: false, stdout: data, stderr: data),
                action: "collect")
        }
    }
}

#if FUZZING
@_cdecl("plugin_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzDriver.run(argc, argv, PluginFuzz.check)
}
#else
@main
struct PluginFuzzReplay {
    static func main() throws {
        try FuzzDriver.replay(PluginFuzz.check)
    }
}
#endif
