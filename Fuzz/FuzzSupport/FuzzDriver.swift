import Foundation

/// What every fuzz target shares: built with `-DFUZZING` (`make fuzz`), libFuzzer's driver runs the
/// target's check on generated inputs; built plainly, the target replays the files it is given (the
/// seed corpus and regressions, as `make test` does).
public enum FuzzDriver {
    /// The target's check: any bytes, never a trap.
    nonisolated(unsafe) static var check: (Data) -> Void = { _ in }

    /// Replays the files named on the command line through `check`.
    public static func replay(_ check: (Data) -> Void) throws {
        for path in CommandLine.arguments.dropFirst() {
            check(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        print("replayed \(CommandLine.arguments.count - 1) input(s)")
    }

    #if FUZZING
    /// Runs libFuzzer with `check`, from a program's entry point (SwiftPM names it `<module>_main`).
    public static func run(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?, _ check: @escaping (Data) -> Void) -> Int32 {
        Self.check = check
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
            FuzzDriver.check(bytes.map { Data(bytes: $0, count: size) } ?? Data())
            return 0
        }
    }
    #endif
}

#if FUZZING
/// libFuzzer's driver for a program with its own `main`; `make fuzz` links libFuzzer (`-sanitize=fuzzer`).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32
#endif
